using System;
using System.Collections.Generic;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    /// <summary>A regular grid: origin = centre of voxel [0,0,0] (mm), spacing (mm), size,
    /// direction columns (patient-space unit vectors of the x, y, z index axes).</summary>
    internal sealed class DoseGrid
    {
        internal readonly double[] Origin;
        internal readonly double[] Spacing;
        internal readonly int[] Size;
        internal readonly double[] Direction; // row-major 3x3, column c = axis c

        internal DoseGrid(double[] origin, double[] spacing, int[] size, double[] direction)
        {
            if (origin.Length != 3 || spacing.Length != 3 || size.Length != 3 || direction.Length != 9)
            {
                throw new ArgumentException("grid: origin, spacing and size need 3 values, direction 9");
            }
            for (int i = 0; i < 3; i++)
            {
                if (!(spacing[i] > 0) || size[i] < 1)
                {
                    throw new ArgumentException("grid: spacing must be > 0 and size >= 1");
                }
            }
            Origin = (double[])origin.Clone();
            Spacing = (double[])spacing.Clone();
            Size = (int[])size.Clone();
            Direction = (double[])direction.Clone();
        }

        internal int Count { get { return Size[0] * Size[1] * Size[2]; } }

        internal VVector Axis(int c)
        {
            return new VVector(Direction[c], Direction[3 + c], Direction[6 + c]);
        }

        internal VVector OriginVector { get { return new VVector(Origin[0], Origin[1], Origin[2]); } }

        internal VVector Position(double i, double j, double k)
        {
            return OriginVector + Axis(0) * (i * Spacing[0]) + Axis(1) * (j * Spacing[1]) + Axis(2) * (k * Spacing[2]);
        }

        /// <summary>Continuous index coordinates (i, j, k) of a patient point (orthonormal directions).</summary>
        internal void ToIndex(VVector p, out double i, out double j, out double k)
        {
            VVector d = p - OriginVector;
            i = d.ScalarProduct(Axis(0)) / Spacing[0];
            j = d.ScalarProduct(Axis(1)) / Spacing[1];
            k = d.ScalarProduct(Axis(2)) / Spacing[2];
        }

        internal bool SameDirection(DoseGrid other)
        {
            for (int n = 0; n < 9; n++)
            {
                if (Math.Abs(Direction[n] - other.Direction[n]) > 1e-9)
                {
                    return false;
                }
            }
            return true;
        }

        internal double VoxelVolumeCc { get { return Spacing[0] * Spacing[1] * Spacing[2] / 1000.0; } }

        /// <summary>The default 2.5 mm calculation grid centred in an image (as tps_stubs.planner.dose_grid_for).</summary>
        internal static DoseGrid DefaultFor(Image image)
        {
            const double step = 2.5;
            DoseGrid g = image._grid;
            double[] origin = new double[3];
            int[] size = new int[3];
            double[] offset = new double[3];
            for (int a = 0; a < 3; a++)
            {
                double extent = g.Spacing[a] * (g.Size[a] - 1);
                size[a] = (int)Math.Floor(extent / step) + 1;
                offset[a] = (extent - (size[a] - 1) * step) / 2.0;
            }
            for (int r = 0; r < 3; r++)
            {
                origin[r] = g.Origin[r];
                for (int c = 0; c < 3; c++)
                {
                    origin[r] += g.Direction[3 * r + c] * offset[c];
                }
            }
            return new DoseGrid(origin, new[] { step, step, step }, size, g.Direction);
        }
    }

    /// <summary>Raw integer dose voxels and their linear scaling: dose (Gy) = raw * ScaleGy.</summary>
    internal sealed class DoseData
    {
        internal readonly DoseGrid Grid;
        internal readonly int[] Raw; // flat, index = (k * ny + j) * nx + i
        internal readonly double ScaleGy;
        internal readonly double OffsetGy; // dose of raw value 0: VoxelToDoseValue(0)
        internal readonly string Uid;
        internal int Version;

        internal DoseData(DoseGrid grid, int[] raw, double scaleGy) : this(grid, raw, scaleGy, 0.0)
        {
        }

        internal DoseData(DoseGrid grid, int[] raw, double scaleGy, double offsetGy)
        {
            if (raw.Length != grid.Count)
            {
                throw new ArgumentException("dose: expected " + grid.Count + " voxels, got " + raw.Length);
            }
            Grid = grid;
            Raw = raw;
            ScaleGy = scaleGy;
            OffsetGy = offsetGy;
            Uid = StubRuntime.NewUid();
        }

        /// <summary>Raw counts for a TOTAL dose in Gy: raw = (dose - offset) / scale, with the
        /// calibration offset StubDefaults.DoseOffsetGy (default 0) and the maximum at 2^24 counts.</summary>
        internal static DoseData FromGy(DoseGrid grid, double[] valuesGy)
        {
            if (valuesGy.Length != grid.Count)
            {
                throw new ArgumentException("dose: expected " + grid.Count + " voxels, got " + valuesGy.Length);
            }
            double max = 0.0;
            foreach (double v in valuesGy)
            {
                if (double.IsNaN(v) || v < 0)
                {
                    throw new ArgumentException("dose values must be finite and >= 0 Gy");
                }
                max = Math.Max(max, v);
            }
            double offset = StubDefaults.DoseOffsetGy;
            double span = max - offset;
            double scale = span > 0 ? span / StubRuntime.RawDoseMaximum : StubRuntime.EvaluationDoseScaleGy;
            int[] raw = new int[valuesGy.Length];
            for (int n = 0; n < raw.Length; n++)
            {
                raw[n] = (int)Math.Round((valuesGy[n] - offset) / scale);
            }
            return new DoseData(grid, raw, scale, offset);
        }

        internal double GyAt(int i, int j, int k)
        {
            return OffsetGy + Raw[(k * Grid.Size[1] + j) * Grid.Size[0] + i] * ScaleGy;
        }

        /// <summary>Trilinear interpolation in Gy; NaN outside the grid.</summary>
        internal double InterpolateGy(VVector p)
        {
            double fi, fj, fk;
            Grid.ToIndex(p, out fi, out fj, out fk);
            int nx = Grid.Size[0], ny = Grid.Size[1], nz = Grid.Size[2];
            const double tol = 1e-6;
            if (fi < -tol || fj < -tol || fk < -tol || fi > nx - 1 + tol || fj > ny - 1 + tol || fk > nz - 1 + tol)
            {
                return double.NaN;
            }
            fi = Math.Min(Math.Max(fi, 0), nx - 1);
            fj = Math.Min(Math.Max(fj, 0), ny - 1);
            fk = Math.Min(Math.Max(fk, 0), nz - 1);
            int i0 = Math.Min((int)Math.Floor(fi), Math.Max(nx - 2, 0));
            int j0 = Math.Min((int)Math.Floor(fj), Math.Max(ny - 2, 0));
            int k0 = Math.Min((int)Math.Floor(fk), Math.Max(nz - 2, 0));
            int i1 = Math.Min(i0 + 1, nx - 1), j1 = Math.Min(j0 + 1, ny - 1), k1 = Math.Min(k0 + 1, nz - 1);
            double ti = fi - i0, tj = fj - j0, tk = fk - k0;
            double c00 = GyAt(i0, j0, k0) * (1 - ti) + GyAt(i1, j0, k0) * ti;
            double c10 = GyAt(i0, j1, k0) * (1 - ti) + GyAt(i1, j1, k0) * ti;
            double c01 = GyAt(i0, j0, k1) * (1 - ti) + GyAt(i1, j0, k1) * ti;
            double c11 = GyAt(i0, j1, k1) * (1 - ti) + GyAt(i1, j1, k1) * ti;
            double c0 = c00 * (1 - tj) + c10 * tj;
            double c1 = c01 * (1 - tj) + c11 * tj;
            return c0 * (1 - tk) + c1 * tk;
        }
    }

    /// <summary>Planar-polygon helpers (even-odd rule) in an image's (u, v) plane coordinates.</summary>
    internal static class Polygons
    {
        /// <summary>Polygon vertices as (u, v) = offsets from the image origin along its x and y axes (mm).</summary>
        internal static double[] ToPlane(VVector[] contour, DoseGrid image)
        {
            VVector ax = image.Axis(0), ay = image.Axis(1), o = image.OriginVector;
            double[] uv = new double[contour.Length * 2];
            for (int n = 0; n < contour.Length; n++)
            {
                VVector d = contour[n] - o;
                uv[2 * n] = d.ScalarProduct(ax);
                uv[2 * n + 1] = d.ScalarProduct(ay);
            }
            return uv;
        }

        internal static bool Inside(double[] uv, double u, double v)
        {
            bool inside = false;
            int n = uv.Length / 2;
            for (int a = 0, b = n - 1; a < n; b = a++)
            {
                double ua = uv[2 * a], va = uv[2 * a + 1], ub = uv[2 * b], vb = uv[2 * b + 1];
                if ((va > v) != (vb > v) && u < (ub - ua) * (v - va) / (vb - va) + ua)
                {
                    inside = !inside;
                }
            }
            return inside;
        }

        internal static double Area(double[] uv)
        {
            double s = 0;
            int n = uv.Length / 2;
            for (int a = 0, b = n - 1; a < n; b = a++)
            {
                s += uv[2 * b] * uv[2 * a + 1] - uv[2 * a] * uv[2 * b + 1];
            }
            return Math.Abs(s) / 2.0;
        }

        /// <summary>u of every crossing of the horizontal line v with the polygon edges (appended).</summary>
        internal static void Crossings(double[] uv, double v, List<double> output)
        {
            int n = uv.Length / 2;
            for (int a = 0, b = n - 1; a < n; b = a++)
            {
                double ua = uv[2 * a], va = uv[2 * a + 1], ub = uv[2 * b], vb = uv[2 * b + 1];
                if ((va > v) != (vb > v))
                {
                    output.Add((ub - ua) * (v - va) / (vb - va) + ua);
                }
            }
        }
    }
}
