using System;
using System.Collections;
using System.Collections.Generic;

namespace VMS.TPS.Common.Model.Types
{
    /// <summary>One point of a DVH curve (struct).</summary>
    public struct DVHPoint
    {
        private readonly DoseValue _dose;
        private readonly double _volume;
        private readonly string _volumeUnit;

        public DVHPoint(DoseValue dose, double volume, string volumeUnit)
        {
            _dose = dose;
            _volume = volume;
            _volumeUnit = volumeUnit;
        }

        public DoseValue DoseValue { get { return _dose; } }

        public double Volume { get { return _volume; } }

        public string VolumeUnit { get { return _volumeUnit; } }
    }

    /// <summary>A sample of a line profile (struct).</summary>
    public struct ProfilePoint
    {
        private readonly VVector _position;
        private readonly double _value;

        public ProfilePoint(VVector position, double value)
        {
            _position = position;
            _value = value;
        }

        public VVector Position { get { return _position; } }

        public double Value { get { return _value; } }
    }

    /// <summary>Values sampled along a line.</summary>
    public abstract class LineProfile : IEnumerable<ProfilePoint>
    {
        private readonly VVector _origin;
        private readonly VVector _step;
        private readonly double[] _data;

        public LineProfile(VVector origin, VVector step, double[] data)
        {
            _origin = origin;
            _step = step;
            _data = (double[])data.Clone();
        }

        public ProfilePoint this[int index]
        {
            get { return new ProfilePoint(_origin + _step * index, _data[index]); }
        }

        public int Count { get { return _data.Length; } }

        public IEnumerator<ProfilePoint> GetEnumerator()
        {
            for (int i = 0; i < _data.Length; i++)
            {
                yield return this[i];
            }
        }

        IEnumerator IEnumerable.GetEnumerator()
        {
            return GetEnumerator();
        }
    }

    /// <summary>A dose profile; values in <see cref="Unit"/>.</summary>
    public class DoseProfile : LineProfile
    {
        private readonly DoseValue.DoseUnit _unit;

        public DoseProfile(VVector origin, VVector step, double[] data, DoseValue.DoseUnit unit)
            : base(origin, step, data)
        {
            _unit = unit;
        }

        public DoseValue.DoseUnit Unit { get { return _unit; } }
    }
}
