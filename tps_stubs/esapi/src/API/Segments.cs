using System;
using System.Collections.Generic;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    /// <summary>A segment as a voxel mask on its image's grid (voxel centres; the stand-in's resolution is
    /// the image's). Immutable: every operation returns a new segment.</summary>
    public class SegmentVolume : SerializableObject
    {
        /// <summary>Eclipse's margin tools stop at 50 mm (assumption, see DEVIATIONS.md).</summary>
        internal const double MaxMarginMm = 50.0;

        internal readonly Image _image;
        internal readonly bool[] _mask; // flat, index = (k * ny + j) * nx + i

        internal SegmentVolume(Image image, bool[] mask)
        {
            _image = image;
            _mask = mask;
        }

        private DoseGrid Grid { get { return _image._grid; } }

        private bool[] Other(SegmentVolume other)
        {
            if (other == null)
            {
                throw new ArgumentNullException("other");
            }
            if (other._image != _image)
            {
                throw new ArgumentException("Both segments must belong to structures on the same image.", "other");
            }
            return other._mask;
        }

        private delegate bool Rule(bool a, bool b);

        private SegmentVolume Combine(SegmentVolume other, Rule rule)
        {
            bool[] b = Other(other);
            bool[] result = new bool[_mask.Length];
            for (int n = 0; n < result.Length; n++)
            {
                result[n] = rule(_mask[n], b[n]);
            }
            return new SegmentVolume(_image, result);
        }

        public SegmentVolume And(SegmentVolume other)
        {
            return Combine(other, (a, b) => a && b);
        }

        public SegmentVolume Or(SegmentVolume other)
        {
            return Combine(other, (a, b) => a || b);
        }

        public SegmentVolume Sub(SegmentVolume other)
        {
            return Combine(other, (a, b) => a && !b);
        }

        public SegmentVolume Xor(SegmentVolume other)
        {
            return Combine(other, (a, b) => a != b);
        }

        /// <summary>Every voxel of the image that is not in the segment.</summary>
        public SegmentVolume Not()
        {
            bool[] result = new bool[_mask.Length];
            for (int n = 0; n < result.Length; n++)
            {
                result[n] = !_mask[n];
            }
            return new SegmentVolume(_image, result);
        }

        /// <summary>Isotropic margin: &gt; 0 grows, &lt; 0 shrinks, by the voxels whose centres lie within
        /// |marginInMM| of the segment's (of the outside's) voxel centres.</summary>
        public SegmentVolume Margin(double marginInMM)
        {
            CheckMargin(marginInMM, "marginInMM");
            double r = Math.Abs(marginInMM);
            double[] radii = { r, r, r, r, r, r };
            return new SegmentVolume(_image, marginInMM >= 0 ? Dilate(radii) : Erode(radii));
        }

        /// <summary>Outer: grows by x1/y1/z1 towards −x/−y/−z and x2/y2/z2 towards +x/+y/+z (patient axes,
        /// mm; an ellipsoid per octant); Inner: shrinks by the same rule.</summary>
        public SegmentVolume AsymmetricMargin(AxisAlignedMargins margins)
        {
            double[] radii = { margins._x1, margins._y1, margins._z1, margins._x2, margins._y2, margins._z2 };
            string[] names = { "x1", "y1", "z1", "x2", "y2", "z2" };
            for (int n = 0; n < 6; n++)
            {
                CheckMargin(radii[n], "margins");
                if (radii[n] < 0)
                {
                    throw new ArgumentException("Asymmetric margins must be >= 0 (" + names[n] + " = " + radii[n]
                        + "); use StructureMarginGeometry.Inner to shrink.", "margins");
                }
            }
            return new SegmentVolume(_image, margins._geometry == StructureMarginGeometry.Inner
                ? Erode(radii) : Dilate(radii));
        }

        private static void CheckMargin(double mm, string parameter)
        {
            if (double.IsNaN(mm) || double.IsInfinity(mm) || Math.Abs(mm) > MaxMarginMm)
            {
                throw new ArgumentOutOfRangeException(parameter, mm,
                    "A margin must be a finite number of millimetres, at most " + MaxMarginMm + " mm.");
            }
        }

        /// <summary>Index offsets (di, dj, dk) whose patient-space displacement d satisfies
        /// Σ (d_a / r_a)² ≤ 1, r_a = radii[a] when d_a &lt; 0 else radii[a + 3]; a zero radius admits no
        /// displacement along that axis.</summary>
        private List<int[]> Kernel(double[] radii)
        {
            DoseGrid g = Grid;
            double rmax = 0;
            foreach (double r in radii)
            {
                rmax = Math.Max(rmax, r);
            }
            int[] ext = new int[3];
            for (int a = 0; a < 3; a++)
            {
                ext[a] = (int)Math.Floor(rmax / g.Spacing[a] + 1e-9);
            }
            VVector ax = g.Axis(0), ay = g.Axis(1), az = g.Axis(2);
            List<int[]> kernel = new List<int[]>();
            for (int dk = -ext[2]; dk <= ext[2]; dk++)
            {
                for (int dj = -ext[1]; dj <= ext[1]; dj++)
                {
                    for (int di = -ext[0]; di <= ext[0]; di++)
                    {
                        VVector d = ax * (di * g.Spacing[0]) + ay * (dj * g.Spacing[1]) + az * (dk * g.Spacing[2]);
                        double[] comp = { d.x, d.y, d.z };
                        double sum = 0;
                        bool ok = true;
                        for (int a = 0; a < 3 && ok; a++)
                        {
                            double c = comp[a];
                            if (Math.Abs(c) < 1e-9)
                            {
                                continue;
                            }
                            double r = c < 0 ? radii[a] : radii[a + 3];
                            if (r <= 0)
                            {
                                ok = false;
                                continue;
                            }
                            sum += (c / r) * (c / r);
                        }
                        if (ok && sum <= 1.0 + 1e-9)
                        {
                            kernel.Add(new[] { di, dj, dk });
                        }
                    }
                }
            }
            return kernel;
        }

        /// <summary>True when voxel (i, j, k) of <paramref name="mask"/> is set and a 6-neighbour is not (or
        /// lies outside the grid).</summary>
        private static bool OnBoundary(bool[] mask, int[] size, int i, int j, int k)
        {
            int nx = size[0], ny = size[1], nz = size[2];
            int n = (k * ny + j) * nx + i;
            return i == 0 || i == nx - 1 || j == 0 || j == ny - 1 || k == 0 || k == nz - 1
                || !mask[n - 1] || !mask[n + 1] || !mask[n - nx] || !mask[n + nx]
                || !mask[n - nx * ny] || !mask[n + nx * ny];
        }

        /// <summary>Voxels within the kernel of a set voxel. Only boundary voxels are spread: a path from an
        /// interior voxel towards any kernel offset leaves the set through a boundary voxel, from which the
        /// rest of the offset is again in the (monotone) kernel.</summary>
        private bool[] Dilate(double[] radii)
        {
            return Spread(_mask, Kernel(radii), 1, (bool[])_mask.Clone());
        }

        /// <summary>Voxels of the segment none of whose kernel offsets leaves it (the image's outside counts
        /// as outside the segment).</summary>
        private bool[] Erode(double[] radii)
        {
            List<int[]> kernel = Kernel(radii);
            int[] size = Grid.Size;
            int nx = size[0], ny = size[1], nz = size[2];
            int[] lo = new int[3], hi = new int[3];
            foreach (int[] d in kernel)
            {
                for (int a = 0; a < 3; a++)
                {
                    lo[a] = Math.Min(lo[a], d[a]);
                    hi[a] = Math.Max(hi[a], d[a]);
                }
            }
            bool[] outside = new bool[_mask.Length];
            for (int n = 0; n < outside.Length; n++)
            {
                outside[n] = !_mask[n];
            }
            bool[] removed = Spread(outside, kernel, -1, new bool[_mask.Length]);
            bool[] result = new bool[_mask.Length];
            for (int k = 0; k < nz; k++)
            {
                for (int j = 0; j < ny; j++)
                {
                    for (int i = 0; i < nx; i++)
                    {
                        int n = (k * ny + j) * nx + i;
                        bool nearEdge = i + lo[0] < 0 || i + hi[0] >= nx || j + lo[1] < 0 || j + hi[1] >= ny
                            || k + lo[2] < 0 || k + hi[2] >= nz;
                        result[n] = _mask[n] && !removed[n] && !nearEdge;
                    }
                }
            }
            return result;
        }

        private bool[] Spread(bool[] source, List<int[]> kernel, int sign, bool[] target)
        {
            int[] size = Grid.Size;
            int nx = size[0], ny = size[1], nz = size[2];
            for (int k = 0; k < nz; k++)
            {
                for (int j = 0; j < ny; j++)
                {
                    for (int i = 0; i < nx; i++)
                    {
                        if (!source[(k * ny + j) * nx + i] || !OnBoundary(source, size, i, j, k))
                        {
                            continue;
                        }
                        foreach (int[] d in kernel)
                        {
                            int ii = i + sign * d[0], jj = j + sign * d[1], kk = k + sign * d[2];
                            if (ii >= 0 && ii < nx && jj >= 0 && jj < ny && kk >= 0 && kk < nz)
                            {
                                target[(kk * ny + jj) * nx + ii] = true;
                            }
                        }
                    }
                }
            }
            return target;
        }

        /// <summary>One rectangle contour per run of set voxels along x in each row of each plane (voxel
        /// edges), first vertex at the run's low-u, low-v corner, so that touching rectangles of adjacent
        /// rows are never taken as nested by the even-odd rule.</summary>
        internal SortedDictionary<int, List<VVector[]>> ToContours()
        {
            DoseGrid g = Grid;
            int nx = g.Size[0], ny = g.Size[1], nz = g.Size[2];
            SortedDictionary<int, List<VVector[]>> planes = new SortedDictionary<int, List<VVector[]>>();
            for (int k = 0; k < nz; k++)
            {
                for (int j = 0; j < ny; j++)
                {
                    int row = (k * ny + j) * nx;
                    int i = 0;
                    while (i < nx)
                    {
                        if (!_mask[row + i])
                        {
                            i++;
                            continue;
                        }
                        int start = i;
                        while (i < nx && _mask[row + i])
                        {
                            i++;
                        }
                        double u0 = start - 0.5, u1 = i - 0.5, v0 = j - 0.5, v1 = j + 0.5;
                        VVector[] rect =
                        {
                            g.Position(u0, v0, k), g.Position(u1, v0, k), g.Position(u1, v1, k), g.Position(u0, v1, k),
                        };
                        List<VVector[]> list;
                        if (!planes.TryGetValue(k, out list))
                        {
                            list = new List<VVector[]>();
                            planes[k] = list;
                        }
                        list.Add(rect);
                    }
                }
            }
            return planes;
        }
    }
}
