using System;

namespace VMS.TPS.Common.Model.Types
{
    /// <summary>A 3-D vector in mm (mutable struct with lower-case components, as in ESAPI 15.6:
    /// no equality operators before 18.1).</summary>
    public struct VVector
    {
        private double _x;
        private double _y;
        private double _z;

        public VVector(double xi, double yi, double zi)
        {
            _x = xi;
            _y = yi;
            _z = zi;
        }

        public double x { get { return _x; } set { _x = value; } }

        public double y { get { return _y; } set { _y = value; } }

        public double z { get { return _z; } set { _z = value; } }

        public double this[int i]
        {
            get
            {
                switch (i)
                {
                    case 0: return _x;
                    case 1: return _y;
                    case 2: return _z;
                    default: throw new IndexOutOfRangeException("VVector index must be 0, 1 or 2.");
                }
            }
            set
            {
                switch (i)
                {
                    case 0: _x = value; break;
                    case 1: _y = value; break;
                    case 2: _z = value; break;
                    default: throw new IndexOutOfRangeException("VVector index must be 0, 1 or 2.");
                }
            }
        }

        public double LengthSquared { get { return _x * _x + _y * _y + _z * _z; } }

        public double Length { get { return Math.Sqrt(LengthSquared); } }

        public static double Distance(VVector left, VVector right)
        {
            return (left - right).Length;
        }

        public void ScaleToUnitLength()
        {
            double len = Length;
            _x /= len;
            _y /= len;
            _z /= len;
        }

        public double ScalarProduct(VVector left)
        {
            return _x * left._x + _y * left._y + _z * left._z;
        }

        public static VVector operator -(VVector left, VVector right)
        {
            return new VVector(left._x - right._x, left._y - right._y, left._z - right._z);
        }

        public static VVector operator +(VVector left, VVector right)
        {
            return new VVector(left._x + right._x, left._y + right._y, left._z + right._z);
        }

        public static VVector operator *(VVector val, double mul)
        {
            return new VVector(val._x * mul, val._y * mul, val._z * mul);
        }

        public static VVector operator *(double mul, VVector val)
        {
            return new VVector(val._x * mul, val._y * mul, val._z * mul);
        }

        public static VVector operator /(VVector val, double div)
        {
            return new VVector(val._x / div, val._y / div, val._z / div);
        }
    }
}
