using System;
using System.Globalization;

namespace VMS.TPS.Common.Model.Types
{
    /// <summary>A dose with its unit (struct, as in ESAPI). Arithmetic and ordering need equal units
    /// (the stand-in throws otherwise; see DEVIATIONS.md).</summary>
    public struct DoseValue : IComparable<DoseValue>, IEquatable<DoseValue>
    {
        /// <summary>Dose units; numeric values as in ESAPI 13.6+.</summary>
        public enum DoseUnit
        {
            Unknown = 0,
            Gy = 1,
            cGy = 2,
            Percent = 3,
        }

        private readonly double _dose;
        private readonly DoseUnit _unit;

        public static readonly DoseValue Undefined = new DoseValue(double.NaN, DoseUnit.Unknown);

        public DoseValue(double value, DoseUnit unit)
        {
            _dose = value;
            _unit = unit;
        }

        public DoseValue(double value, string unitName)
        {
            _dose = value;
            _unit = ParseUnit(unitName);
        }

        public double Dose { get { return _dose; } }

        public DoseUnit Unit { get { return _unit; } }

        public string UnitAsString { get { return UnitName(_unit); } }

        public string ValueAsString
        {
            get { return _dose.ToString("F" + Decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture); }
        }

        public int Decimals
        {
            get
            {
                switch (_unit)
                {
                    case DoseUnit.Gy: return 3;
                    case DoseUnit.cGy: return 1;
                    case DoseUnit.Percent: return 1;
                    default: return 2;
                }
            }
        }

        public bool IsAbsoluteDoseValue { get { return IsAbsoluteDoseUnit(_unit); } }

        public bool IsRelativeDoseValue { get { return IsRelativeDoseUnit(_unit); } }

        public static bool IsAbsoluteDoseUnit(DoseUnit doseUnit)
        {
            return doseUnit == DoseUnit.Gy || doseUnit == DoseUnit.cGy;
        }

        public static bool IsRelativeDoseUnit(DoseUnit doseUnit)
        {
            return doseUnit == DoseUnit.Percent;
        }

        public static DoseValue UndefinedDose()
        {
            return Undefined;
        }

        public bool IsUndefined()
        {
            return double.IsNaN(_dose) || _unit == DoseUnit.Unknown;
        }

        public override string ToString()
        {
            string unit = UnitAsString;
            return unit.Length == 0 ? ValueAsString : ValueAsString + " " + unit;
        }

        public override bool Equals(object obj)
        {
            return obj is DoseValue && Equals((DoseValue)obj);
        }

        public bool Equals(DoseValue other)
        {
            return _unit == other._unit && _dose.Equals(other._dose);
        }

        public bool Equals(DoseValue other, double epsilon)
        {
            return _unit == other._unit && Math.Abs(_dose - other._dose) <= epsilon;
        }

        public override int GetHashCode()
        {
            return _dose.GetHashCode() ^ ((int)_unit << 24);
        }

        public int CompareTo(DoseValue other)
        {
            RequireSameUnit(this, other, "compare");
            return _dose.CompareTo(other._dose);
        }

        public static bool operator ==(DoseValue dv1, DoseValue dv2) { return dv1.Equals(dv2); }

        public static bool operator !=(DoseValue dv1, DoseValue dv2) { return !dv1.Equals(dv2); }

        public static bool operator <(DoseValue dv1, DoseValue dv2) { return dv1.CompareTo(dv2) < 0; }

        public static bool operator <=(DoseValue dv1, DoseValue dv2) { return dv1.CompareTo(dv2) <= 0; }

        public static bool operator >(DoseValue dv1, DoseValue dv2) { return dv1.CompareTo(dv2) > 0; }

        public static bool operator >=(DoseValue dv1, DoseValue dv2) { return dv1.CompareTo(dv2) >= 0; }

        public static DoseValue operator +(DoseValue dv1, DoseValue dv2)
        {
            RequireSameUnit(dv1, dv2, "add");
            return new DoseValue(dv1._dose + dv2._dose, dv1._unit);
        }

        public static DoseValue operator -(DoseValue dv1, DoseValue dv2)
        {
            RequireSameUnit(dv1, dv2, "subtract");
            return new DoseValue(dv1._dose - dv2._dose, dv1._unit);
        }

        public static DoseValue operator *(DoseValue dv, double dbl) { return new DoseValue(dv._dose * dbl, dv._unit); }

        public static DoseValue operator *(double dbl, DoseValue dv) { return new DoseValue(dv._dose * dbl, dv._unit); }

        public static DoseValue operator /(DoseValue dv, double dbl) { return new DoseValue(dv._dose / dbl, dv._unit); }

        public static double operator /(DoseValue dv1, DoseValue dv2)
        {
            RequireSameUnit(dv1, dv2, "divide");
            return dv1._dose / dv2._dose;
        }

        internal static string UnitName(DoseUnit unit)
        {
            switch (unit)
            {
                case DoseUnit.Gy: return "Gy";
                case DoseUnit.cGy: return "cGy";
                case DoseUnit.Percent: return "%";
                default: return "";
            }
        }

        private static DoseUnit ParseUnit(string unitName)
        {
            switch ((unitName ?? "").Trim())
            {
                case "Gy": return DoseUnit.Gy;
                case "cGy": return DoseUnit.cGy;
                case "%": return DoseUnit.Percent;
                default: return DoseUnit.Unknown;
            }
        }

        private static void RequireSameUnit(DoseValue a, DoseValue b, string what)
        {
            if (a._unit != b._unit)
            {
                throw new ArgumentException(string.Format(CultureInfo.InvariantCulture,
                    "Cannot {0} dose values with different units ({1} and {2}).", what, a, b));
            }
        }
    }
}
