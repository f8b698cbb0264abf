using System;

namespace VMS.TPS.Common.Model.Types
{
    /// <summary>Whether an asymmetric margin grows (Outer) or shrinks (Inner) a segment. Named by public
    /// scripts (<c>StructureMarginGeometry.Outer</c> / <c>.Inner</c>); numeric values unconfirmed.</summary>
    public enum StructureMarginGeometry
    {
        Outer = 0,
        Inner = 1,
    }

    /// <summary>Margins of <c>SegmentVolume.AsymmetricMargin</c> (a struct, esapi.md §12), in mm along the
    /// patient (DICOM) axes: x1, y1, z1 towards −x, −y, −z; x2, y2, z2 towards +x, +y, +z. The order of the
    /// constructor's arguments is that of public scripts.</summary>
    public struct AxisAlignedMargins
    {
        internal readonly StructureMarginGeometry _geometry;
        internal readonly double _x1;
        internal readonly double _y1;
        internal readonly double _z1;
        internal readonly double _x2;
        internal readonly double _y2;
        internal readonly double _z2;

        public AxisAlignedMargins(StructureMarginGeometry geometry, double x1, double y1, double z1, double x2,
            double y2, double z2)
        {
            _geometry = geometry;
            _x1 = x1;
            _y1 = y1;
            _z1 = z1;
            _x2 = x2;
            _y2 = y2;
            _z2 = z2;
        }
    }
}
