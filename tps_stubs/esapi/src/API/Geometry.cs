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

        /// <summary>Whether any edge of <paramref name="p"/> meets any edge of <paramref name="q"/> (crossing,
        /// touching or overlapping; closed segments).</summary>
        internal static bool EdgesMeet(double[] p, double[] q)
        {
            double[] bp = Bounds(p), bq = Bounds(q);
            if (bp[0] > bq[2] || bq[0] > bp[2] || bp[1] > bq[3] || bq[1] > bp[3])
            {
                return false;
            }
            int n = p.Length / 2, m = q.Length / 2;
            for (int a = 0, b = n - 1; a < n; b = a++)
            {
                for (int c = 0, d = m - 1; c < m; d = c++)
                {
                    if (SegmentsMeet(p[2 * b], p[2 * b + 1], p[2 * a], p[2 * a + 1],
                                     q[2 * d], q[2 * d + 1], q[2 * c], q[2 * c + 1]))
                    {
                        return true;
                    }
                }
            }
            return false;
        }

        internal static double[] Bounds(double[] uv)
        {
            double[] b = { double.MaxValue, double.MaxValue, double.MinValue, double.MinValue };
            for (int n = 0; n < uv.Length; n += 2)
            {
                b[0] = Math.Min(b[0], uv[n]);
                b[1] = Math.Min(b[1], uv[n + 1]);
                b[2] = Math.Max(b[2], uv[n]);
                b[3] = Math.Max(b[3], uv[n + 1]);
            }
            return b;
        }

        private static double Cross(double ax, double ay, double bx, double by, double cx, double cy)
        {
            return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
        }

        private static bool SegmentsMeet(double ax, double ay, double bx, double by, double cx, double cy,
                                         double dx, double dy)
        {
            if (Math.Max(ax, bx) < Math.Min(cx, dx) || Math.Max(cx, dx) < Math.Min(ax, bx)
                || Math.Max(ay, by) < Math.Min(cy, dy) || Math.Max(cy, dy) < Math.Min(ay, by))
            {
                return false;
            }
            double d1 = Cross(cx, cy, dx, dy, ax, ay), d2 = Cross(cx, cy, dx, dy, bx, by);
            double d3 = Cross(ax, ay, bx, by, cx, cy), d4 = Cross(ax, ay, bx, by, dx, dy);
            return !((d1 > 0 && d2 > 0) || (d1 < 0 && d2 < 0) || (d3 > 0 && d4 > 0) || (d3 < 0 && d4 < 0));
        }

        /// <summary>v of the proper crossing of edges a-b and c-d, or NaN.</summary>
        internal static double CrossingV(double ax, double ay, double bx, double by, double cx, double cy,
                                         double dx, double dy)
        {
            double rx = bx - ax, ry = by - ay, sx = dx - cx, sy = dy - cy;
            double denom = rx * sy - ry * sx;
            if (denom == 0)
            {
                return double.NaN;
            }
            double t = ((cx - ax) * sy - (cy - ay) * sx) / denom;
            double w = ((cx - ax) * ry - (cy - ay) * rx) / denom;
            return t > 0 && t < 1 && w > 0 && w < 1 ? ay + t * ry : double.NaN;
        }
    }

    /// <summary>How a contour written on an image plane combines with the segment the plane already has:
    /// exclusive-or (the DICOM even-odd rule; loaded structures, segment writes and, by default,
    /// AddContourOnImagePlane), union (AddContourOnImagePlane under the stand-in's union setting) or
    /// subtraction (SubtractContourOnImagePlane).</summary>
    internal enum ContourOp
    {
        Xor,
        Union,
        Subtract,
    }

    /// <summary>The contours of one image plane in plane coordinates (u, v mm, <see cref="Polygons.ToPlane"/>)
    /// and how each was combined, in the order written. A point is in the plane's segment by folding the
    /// contours in order: Xor toggles, Union sets, Subtract clears where the point is inside the contour.
    /// With Xor only this is the even-odd rule.</summary>
    internal sealed class PlaneContours
    {
        /// <summary>The contours as written (patient mm), what GetContoursOnImagePlane returns.</summary>
        internal readonly List<VVector[]> Points = new List<VVector[]>();
        internal readonly List<double[]> Uv = new List<double[]>();
        internal readonly List<ContourOp> Ops = new List<ContourOp>();
        private int _notXor;
        private bool _measured;
        private double _area;
        private VVector _moment;

        internal void Add(VVector[] points, double[] uv, ContourOp op)
        {
            Points.Add(points);
            Uv.Add(uv);
            Ops.Add(op);
            if (op != ContourOp.Xor)
            {
                _notXor++;
            }
            _measured = false;
        }

        internal PlaneContours Clone()
        {
            PlaneContours copy = new PlaneContours();
            for (int n = 0; n < Uv.Count; n++)
            {
                copy.Add((VVector[])Points[n].Clone(), (double[])Uv[n].Clone(), Ops[n]);
            }
            return copy;
        }

        /// <summary>Area of the plane's segment (mm²) and its first moment (area × centre, patient mm;
        /// cached). Nested even-odd contours: each contour's area signed by its nesting depth, centred on
        /// its vertices' mean; otherwise the exact <see cref="Area"/> and its centroid on image plane
        /// <paramref name="k"/>.</summary>
        internal double Measure(DoseGrid image, int k, out VVector moment)
        {
            if (!_measured)
            {
                _moment = new VVector(0, 0, 0);
                if (NestedEvenOdd())
                {
                    _area = 0;
                    for (int a = 0; a < Uv.Count; a++)
                    {
                        int depth = 0;
                        for (int b = 0; b < Uv.Count; b++)
                        {
                            if (a != b && Polygons.Inside(Uv[b], Uv[a][0], Uv[a][1]))
                            {
                                depth++;
                            }
                        }
                        double area = Polygons.Area(Uv[a]) * (depth % 2 == 0 ? 1 : -1);
                        VVector mean = new VVector(0, 0, 0);
                        foreach (VVector p in Points[a])
                        {
                            mean = mean + p;
                        }
                        _area += area;
                        _moment = _moment + mean * (area / Points[a].Length);
                    }
                }
                else
                {
                    double cu, cv;
                    _area = Area(out cu, out cv);
                    _moment = image.Position(cu / image.Spacing[0], cv / image.Spacing[1], k) * _area;
                }
                _measured = true;
            }
            moment = _moment;
            return _area;
        }

        internal bool EvenOdd { get { return _notXor == 0; } }

        private bool Fold(bool[] inside)
        {
            bool s = false;
            for (int n = 0; n < inside.Length; n++)
            {
                switch (Ops[n])
                {
                    case ContourOp.Xor:
                        s ^= inside[n];
                        break;
                    case ContourOp.Union:
                        s |= inside[n];
                        break;
                    default:
                        s &= !inside[n];
                        break;
                }
            }
            return s;
        }

        internal bool Inside(double u, double v)
        {
            bool[] inside = new bool[Uv.Count];
            for (int n = 0; n < Uv.Count; n++)
            {
                inside[n] = Polygons.Inside(Uv[n], u, v);
            }
            return Fold(inside);
        }

        /// <summary>The parts [a, b) of the line v inside the segment, appended to <paramref name="output"/>
        /// as a, b pairs in increasing u (half-open as <see cref="Polygons.Inside"/>). Even-odd planes pair
        /// the sorted crossings; other planes fold the contours between consecutive crossings.</summary>
        internal void Intervals(double v, List<double> output)
        {
            if (EvenOdd)
            {
                int start = output.Count;
                foreach (double[] uv in Uv)
                {
                    Polygons.Crossings(uv, v, output);
                }
                output.Sort(start, output.Count - start, null);
                if ((output.Count - start) % 2 == 1)
                {
                    output.RemoveAt(output.Count - 1);
                }
                return;
            }
            List<KeyValuePair<double, int>> all = new List<KeyValuePair<double, int>>();
            List<double> one = new List<double>();
            for (int n = 0; n < Uv.Count; n++)
            {
                one.Clear();
                Polygons.Crossings(Uv[n], v, one);
                foreach (double u in one)
                {
                    all.Add(new KeyValuePair<double, int>(u, n));
                }
            }
            all.Sort((x, y) => x.Key.CompareTo(y.Key));
            bool[] inside = new bool[Uv.Count];
            int k = 0;
            while (k < all.Count)
            {
                double u = all[k].Key;
                while (k < all.Count && all[k].Key == u)
                {
                    inside[all[k].Value] = !inside[all[k].Value];
                    k++;
                }
                if (k < all.Count && Fold(inside))
                {
                    int last = output.Count - 1;
                    if (last > 0 && output[last] == u)
                    {
                        output[last] = all[k].Key; // contiguous with the previous part
                    }
                    else
                    {
                        output.Add(u);
                        output.Add(all[k].Key);
                    }
                }
            }
        }

        /// <summary>Whether the even-odd area formula (each contour's area, signed by its nesting depth)
        /// is exact: Xor only, and no two contours' edges meet (nested or apart).</summary>
        internal bool NestedEvenOdd()
        {
            if (!EvenOdd)
            {
                return false;
            }
            for (int a = 0; a < Uv.Count; a++)
            {
                for (int b = a + 1; b < Uv.Count; b++)
                {
                    if (Polygons.EdgesMeet(Uv[a], Uv[b]))
                    {
                        return false;
                    }
                }
            }
            return true;
        }

        /// <summary>Exact area (mm²) of the segment and its centroid (u, v): the plane is cut into strips at
        /// every vertex and every crossing of two edges, so that inside a strip each part is a trapezoid
        /// whose width at the strip's middle times the strip's height is its area.</summary>
        internal double Area(out double cu, out double cv)
        {
            List<double> levels = new List<double>();
            foreach (double[] uv in Uv)
            {
                for (int n = 1; n < uv.Length; n += 2)
                {
                    levels.Add(uv[n]);
                }
            }
            for (int a = 0; a < Uv.Count; a++)
            {
                for (int b = a; b < Uv.Count; b++)
                {
                    AddCrossings(Uv[a], Uv[b], a == b, levels);
                }
            }
            levels.Sort();
            double area = 0;
            cu = 0;
            cv = 0;
            List<double> parts = new List<double>();
            for (int n = 0; n + 1 < levels.Count; n++)
            {
                double h = levels[n + 1] - levels[n];
                if (!(h > 0))
                {
                    continue;
                }
                double mid = (levels[n] + levels[n + 1]) / 2.0;
                parts.Clear();
                Intervals(mid, parts);
                for (int c = 0; c + 1 < parts.Count; c += 2)
                {
                    double w = (parts[c + 1] - parts[c]) * h;
                    area += w;
                    cu += w * (parts[c] + parts[c + 1]) / 2.0;
                    cv += w * mid;
                }
            }
            if (area > 0)
            {
                cu /= area;
                cv /= area;
            }
            return area;
        }

        private static void AddCrossings(double[] p, double[] q, bool same, List<double> levels)
        {
            if (!same)
            {
                double[] bp = Polygons.Bounds(p), bq = Polygons.Bounds(q);
                if (bp[0] > bq[2] || bq[0] > bp[2] || bp[1] > bq[3] || bq[1] > bp[3])
                {
                    return;
                }
            }
            int n = p.Length / 2, m = q.Length / 2;
            for (int a = 0, b = n - 1; a < n; b = a++)
            {
                for (int c = 0, d = m - 1; c < m; d = c++)
                {
                    if (same && (a == c || a == d || b == c || b == d))
                    {
                        continue;
                    }
                    double v = Polygons.CrossingV(p[2 * b], p[2 * b + 1], p[2 * a], p[2 * a + 1],
                                                  q[2 * d], q[2 * d + 1], q[2 * c], q[2 * c + 1]);
                    if (!double.IsNaN(v))
                    {
                        levels.Add(v);
                    }
                }
            }
        }
    }
}
