using System;
using System.Collections.Generic;
using System.Linq;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    /// <summary>A dose matrix. Raw voxels are integers; VoxelToDoseValue scales them linearly
    /// (raw × per-matrix scale × plan normalisation) into the system unit, or % of the plan's total
    /// dose when the planning item presents relative dose.</summary>
    public class Dose : ApiDataObject
    {
        internal readonly PlanningItem _item;
        internal readonly DoseData _data;

        internal Dose(PlanningItem item, DoseData data)
        {
            _owner = item._owner;
            _item = item;
            _data = data;
            _id = item._id;
        }

        internal override string LockReason()
        {
            return _item.LockReason();
        }

        /// <summary>Gy per raw count, including the plan normalisation.</summary>
        internal double EffectiveScaleGy { get { return _data.ScaleGy * _item.NormalisationFactor; } }

        internal double EffectiveOffsetGy { get { return _data.OffsetGy * _item.NormalisationFactor; } }

        public DoseValue DoseMax3D
        {
            get { return _item.Present(MaxIndex() < 0 ? double.NaN : EffectiveOffsetGy + _data.Raw[MaxIndex()] * EffectiveScaleGy); }
        }

        public VVector DoseMax3DLocation
        {
            get
            {
                int n = MaxIndex();
                if (n < 0)
                {
                    return new VVector(double.NaN, double.NaN, double.NaN);
                }
                int nx = _data.Grid.Size[0], ny = _data.Grid.Size[1];
                return _data.Grid.Position(n % nx, (n / nx) % ny, n / (nx * ny));
            }
        }

        private int MaxIndex()
        {
            int best = -1, bestValue = int.MinValue;
            int[] raw = _data.Raw;
            for (int n = 0; n < raw.Length; n++)
            {
                if (raw[n] > bestValue)
                {
                    bestValue = raw[n];
                    best = n;
                }
            }
            return best;
        }

        public VVector Origin { get { return _data.Grid.OriginVector; } }

        public string SeriesUID { get { return ""; } }

        public string UID { get { return _data.Uid; } }

        public VVector XDirection { get { return _data.Grid.Axis(0); } }

        public VVector YDirection { get { return _data.Grid.Axis(1); } }

        public VVector ZDirection { get { return _data.Grid.Axis(2); } }

        public double XRes { get { return _data.Grid.Spacing[0]; } }

        public double YRes { get { return _data.Grid.Spacing[1]; } }

        public double ZRes { get { return _data.Grid.Spacing[2]; } }

        public int XSize { get { return _data.Grid.Size[0]; } }

        public int YSize { get { return _data.Grid.Size[1]; } }

        public int ZSize { get { return _data.Grid.Size[2]; } }

        public void GetVoxels(int planeIndex, int[,] preallocatedBuffer)
        {
            Voxels.CopyPlane(_data.Raw, _data.Grid, planeIndex, preallocatedBuffer);
        }

        public DoseValue VoxelToDoseValue(int voxelValue)
        {
            return _item.Present(EffectiveOffsetGy + voxelValue * EffectiveScaleGy);
        }

        public DoseValue GetDoseToPoint(VVector at)
        {
            return _item.Present(_data.InterpolateGy(at) * _item.NormalisationFactor);
        }

        public DoseProfile GetDoseProfile(VVector start, VVector stop, double[] preallocatedBuffer)
        {
            if (preallocatedBuffer == null || preallocatedBuffer.Length < 2)
            {
                throw new ArgumentException("The buffer must hold at least 2 values.", "preallocatedBuffer");
            }
            int n = preallocatedBuffer.Length;
            VVector step = (stop - start) / (n - 1);
            DoseValue.DoseUnit unit = _item.Present(0.0).Unit;
            for (int s = 0; s < n; s++)
            {
                preallocatedBuffer[s] = _item.Present(_data.InterpolateGy(start + step * s) * _item.NormalisationFactor).Dose;
            }
            return new DoseProfile(start, step, preallocatedBuffer, unit);
        }
    }

    public class PlanningItemDose : Dose
    {
        internal PlanningItemDose(PlanningItem item, DoseData data)
            : base(item, data)
        {
        }
    }

    public class EvaluationDose : Dose
    {
        internal EvaluationDose(PlanningItem item, DoseData data)
            : base(item, data)
        {
        }

        public void SetVoxels(int planeIndex, int[,] values)
        {
            Guard("SetVoxels");
            int nx = _data.Grid.Size[0], ny = _data.Grid.Size[1];
            if (planeIndex < 0 || planeIndex >= _data.Grid.Size[2])
            {
                throw new ArgumentOutOfRangeException("planeIndex", planeIndex, "plane index out of range");
            }
            if (values == null || values.GetLength(0) != nx || values.GetLength(1) != ny)
            {
                throw new ArgumentException("The size of the array must conform to the X-size and Y-size of the dose (int["
                    + nx + ", " + ny + "]).", "values");
            }
            int offset = planeIndex * nx * ny;
            for (int j = 0; j < ny; j++)
            {
                for (int i = 0; i < nx; i++)
                {
                    _data.Raw[offset + j * nx + i] = values[i, j];
                }
            }
            _data.Version++;
            PlanSetup plan = _item as PlanSetup;
            if (plan != null)
            {
                plan._evaluationVoxelsSet = true;
            }
            Record("SetVoxels", planeIndex);
        }

        public int DoseValueToVoxel(DoseValue doseValue)
        {
            double gy;
            if (doseValue.Unit == DoseValue.DoseUnit.Percent)
            {
                gy = doseValue.Dose / 100.0 * _item.TotalDoseGy;
            }
            else
            {
                gy = StubRuntime.SystemUnitToGy(doseValue, "doseValue");
            }
            double raw = Math.Round((gy - EffectiveOffsetGy) / EffectiveScaleGy);
            if (double.IsNaN(raw) || raw > int.MaxValue || raw < int.MinValue)
            {
                throw new OverflowException("The dose value cannot be represented as a voxel value: " + doseValue);
            }
            return (int)raw;
        }
    }

    public class DVHData : SerializableObject
    {
        internal DVHPoint[] _curve;
        internal DoseValue _max, _mean, _median, _min;
        internal double _coverage, _samplingCoverage, _stdDev, _volume;

        internal DVHData()
        {
        }

        public double Coverage { get { return _coverage; } }

        public DVHPoint[] CurveData { get { return (DVHPoint[])_curve.Clone(); } }

        public DoseValue MaxDose { get { return _max; } }

        public DoseValue MeanDose { get { return _mean; } }

        public DoseValue MedianDose { get { return _median; } }

        public DoseValue MinDose { get { return _min; } }

        public double SamplingCoverage { get { return _samplingCoverage; } }

        public double StdDev { get { return _stdDev; } }

        /// <summary>cm³.</summary>
        public double Volume { get { return _volume; } }
    }
}
