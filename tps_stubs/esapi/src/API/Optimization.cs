using System;
using System.Collections.Generic;
using System.Linq;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    /// <summary>The optimisation objectives and parameters of a plan. Doses must be in the system unit
    /// (TOTAL dose over the plan); point-objective volumes are 0-100 %.</summary>
    public class OptimizationSetup : SerializableObject
    {
        internal readonly PlanSetup _plan;
        internal readonly List<OptimizationObjective> _objectives = new List<OptimizationObjective>();
        internal readonly List<OptimizationParameter> _parameters = new List<OptimizationParameter>();
        private bool _jawTracking;

        internal OptimizationSetup(PlanSetup plan)
        {
            _plan = plan;
        }

        private void Guard(string member)
        {
            StubRuntime.Guard(_plan, "OptimizationSetup." + member, true);
        }

        private void Record(string member, params object[] args)
        {
            StubRuntime.RecordRaw("OptimizationSetup", _plan.Id, member, args);
        }

        private void CheckStructure(Structure structure)
        {
            if (structure == null)
            {
                throw new ArgumentNullException("structure");
            }
            if (_plan._structureSet == null || !_plan._structureSet._structures.Contains(structure))
            {
                throw new ArgumentException("Structure '" + structure.Id + "' is not in the plan's structure set.",
                    "structure");
            }
        }

        /// <summary>An objective's dose in Gy: the system's unit, finite, and not negative (the reference gives
        /// no bound; a negative dose objective is meaningless, and refusing it is the stricter reading).</summary>
        private static double ObjectiveDoseGy(DoseValue dose)
        {
            double gy = StubRuntime.SystemUnitToGy(dose, "dose");
            if (gy < 0)
            {
                throw new ArgumentOutOfRangeException("dose", dose.ToString(), "an objective dose must be >= 0");
            }
            return gy;
        }

        private static void CheckPriority(double priority)
        {
            if (double.IsNaN(priority) || priority < 0)
            {
                throw new ArgumentOutOfRangeException("priority", priority, "must be >= 0");
            }
        }

        public IEnumerable<OptimizationObjective> Objectives { get { return StubRuntime.Seq(_objectives); } }

        public IEnumerable<OptimizationParameter> Parameters { get { return StubRuntime.Seq(_parameters); } }

        public bool UseJawTracking
        {
            get { return _jawTracking; }
            set
            {
                Guard("UseJawTracking");
                _jawTracking = value;
                Record("set_UseJawTracking", value);
            }
        }

        public OptimizationPointObjective AddPointObjective(Structure structure,
            OptimizationObjectiveOperator objectiveOperator, DoseValue dose, double volume, double priority)
        {
            Guard("AddPointObjective");
            CheckStructure(structure);
            ObjectiveDoseGy(dose);
            if (double.IsNaN(volume) || volume < 0 || volume > 100)
            {
                throw new ArgumentOutOfRangeException("volume", volume, "volume is a percentage of the structure (0-100)");
            }
            CheckPriority(priority);
            var o = new OptimizationPointObjective(structure, objectiveOperator, priority, dose, volume);
            _objectives.Add(o);
            Record("AddPointObjective", structure, objectiveOperator, dose, volume, priority);
            return o;
        }

        public OptimizationMeanDoseObjective AddMeanDoseObjective(Structure structure, DoseValue dose, double priority)
        {
            Guard("AddMeanDoseObjective");
            CheckStructure(structure);
            ObjectiveDoseGy(dose);
            CheckPriority(priority);
            var o = new OptimizationMeanDoseObjective(structure, priority, dose);
            _objectives.Add(o);
            Record("AddMeanDoseObjective", structure, dose, priority);
            return o;
        }

        public OptimizationEUDObjective AddEUDObjective(Structure structure, OptimizationObjectiveOperator objectiveOperator,
            DoseValue dose, double parameterA, double priority)
        {
            Guard("AddEUDObjective");
            CheckStructure(structure);
            ObjectiveDoseGy(dose);
            CheckPriority(priority);
            var o = new OptimizationEUDObjective(structure, objectiveOperator, priority, dose, parameterA);
            _objectives.Add(o);
            Record("AddEUDObjective", structure, objectiveOperator, dose, parameterA, priority);
            return o;
        }

        /// <summary>Only one NTO: replaces any existing one (manual or automatic).</summary>
        public OptimizationNormalTissueParameter AddNormalTissueObjective(double priority,
            double distanceFromTargetBorderInMM, double startDosePercentage, double endDosePercentage, double fallOff)
        {
            Guard("AddNormalTissueObjective");
            CheckPriority(priority);
            _parameters.RemoveAll(p => p is OptimizationNormalTissueParameter);
            var p2 = new OptimizationNormalTissueParameter(priority, distanceFromTargetBorderInMM, startDosePercentage,
                endDosePercentage, fallOff, false);
            _parameters.Add(p2);
            Record("AddNormalTissueObjective", priority, distanceFromTargetBorderInMM, startDosePercentage,
                endDosePercentage, fallOff);
            return p2;
        }

        public OptimizationNormalTissueParameter AddAutomaticNormalTissueObjective(double priority)
        {
            Guard("AddAutomaticNormalTissueObjective");
            CheckPriority(priority);
            _parameters.RemoveAll(p => p is OptimizationNormalTissueParameter);
            var p2 = new OptimizationNormalTissueParameter(priority, double.NaN, double.NaN, double.NaN, double.NaN, true);
            _parameters.Add(p2);
            Record("AddAutomaticNormalTissueObjective", priority);
            return p2;
        }

        public void RemoveObjective(OptimizationObjective objective)
        {
            Guard("RemoveObjective");
            if (objective == null || !_objectives.Remove(objective))
            {
                throw new ArgumentException("The objective does not belong to this plan.", "objective");
            }
            Record("RemoveObjective", objective.StructureId);
        }

        public void RemoveParameter(OptimizationParameter parameter)
        {
            Guard("RemoveParameter");
            if (parameter == null || !_parameters.Remove(parameter))
            {
                throw new ArgumentException("The parameter does not belong to this plan.", "parameter");
            }
            Record("RemoveParameter", parameter.GetType().Name);
        }
    }

    public class OptimizationObjective : SerializableObject
    {
        internal readonly Structure _structure;
        internal readonly OptimizationObjectiveOperator _operator;
        internal readonly double _priority;

        internal OptimizationObjective(Structure structure, OptimizationObjectiveOperator op, double priority)
        {
            _structure = structure;
            _operator = op;
            _priority = priority;
        }

        /// <summary>The same objective on another structure (plan copies onto another structure set).</summary>
        internal virtual OptimizationObjective On(Structure structure)
        {
            return new OptimizationObjective(structure, _operator, _priority);
        }

        public Structure Structure { get { return _structure; } }

        public string StructureId { get { return _structure.Id; } }

        public OptimizationObjectiveOperator Operator { get { return _operator; } }

        public double Priority { get { return _priority; } }

        public override bool Equals(object obj)
        {
            return ReferenceEquals(this, obj);
        }

        public override int GetHashCode()
        {
            return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
        }

        public static bool operator ==(OptimizationObjective a, OptimizationObjective b)
        {
            return ReferenceEquals(a, b);
        }

        public static bool operator !=(OptimizationObjective a, OptimizationObjective b)
        {
            return !ReferenceEquals(a, b);
        }
    }

    public class OptimizationPointObjective : OptimizationObjective
    {
        private readonly DoseValue _dose;
        private readonly double _volume;

        internal OptimizationPointObjective(Structure s, OptimizationObjectiveOperator op, double priority, DoseValue dose,
            double volume)
            : base(s, op, priority)
        {
            _dose = dose;
            _volume = volume;
        }

        internal override OptimizationObjective On(Structure structure)
        {
            return new OptimizationPointObjective(structure, _operator, _priority, _dose, _volume);
        }

        public DoseValue Dose { get { return _dose; } }

        /// <summary>Percentage of the structure volume (0-100 %).</summary>
        public double Volume { get { return _volume; } }
    }

    /// <summary>Operator is Upper in the stand-in (AddMeanDoseObjective takes none).</summary>
    public class OptimizationMeanDoseObjective : OptimizationObjective
    {
        private readonly DoseValue _dose;

        internal OptimizationMeanDoseObjective(Structure s, double priority, DoseValue dose)
            : base(s, OptimizationObjectiveOperator.Upper, priority)
        {
            _dose = dose;
        }

        internal override OptimizationObjective On(Structure structure)
        {
            return new OptimizationMeanDoseObjective(structure, _priority, _dose);
        }

        public DoseValue Dose { get { return _dose; } }
    }

    public class OptimizationEUDObjective : OptimizationObjective
    {
        private readonly DoseValue _dose;
        private readonly double _a;

        internal OptimizationEUDObjective(Structure s, OptimizationObjectiveOperator op, double priority, DoseValue dose,
            double parameterA)
            : base(s, op, priority)
        {
            _dose = dose;
            _a = parameterA;
        }

        internal override OptimizationObjective On(Structure structure)
        {
            return new OptimizationEUDObjective(structure, _operator, _priority, _dose, _a);
        }

        public DoseValue Dose { get { return _dose; } }

        public double ParameterA { get { return _a; } }
    }

    public abstract class OptimizationParameter : SerializableObject
    {
        internal OptimizationParameter()
        {
        }
    }

    public class OptimizationNormalTissueParameter : OptimizationParameter
    {
        private readonly double _priority, _distance, _start, _end, _fallOff;
        private readonly bool _automatic;

        internal OptimizationNormalTissueParameter(double priority, double distance, double start, double end,
            double fallOff, bool automatic)
        {
            _priority = priority;
            _distance = distance;
            _start = start;
            _end = end;
            _fallOff = fallOff;
            _automatic = automatic;
        }

        public double DistanceFromTargetBorderInMM { get { return _distance; } }

        public double EndDosePercentage { get { return _end; } }

        public double FallOff { get { return _fallOff; } }

        public bool IsAutomatic { get { return _automatic; } }

        public double Priority { get { return _priority; } }

        public double StartDosePercentage { get { return _start; } }
    }

    public class CalculationResult
    {
        private readonly bool _success;

        internal CalculationResult(bool success)
        {
            _success = success;
        }

        /// <summary>true if the calculation did not return any errors.</summary>
        public bool Success { get { return _success; } }
    }

    /// <summary>The stand-in reports no per-structure DVHs or objective values.</summary>
    public class OptimizerResult : CalculationResult
    {
        private readonly int _iterations;

        internal OptimizerResult(bool success, int iterations)
            : base(success)
        {
            _iterations = iterations;
        }

        public IEnumerable<OptimizerDVH> StructureDVHs { get { return StubRuntime.Seq(new OptimizerDVH[0]); } }

        public IEnumerable<OptimizerObjectiveValue> StructureObjectiveValues
        {
            get { return StubRuntime.Seq(new OptimizerObjectiveValue[0]); }
        }

        public double TotalObjectiveFunctionValue { get { return 0.0; } }

        public int NumberOfIMRTOptimizerIterations { get { return _iterations; } }
    }

    public class OptimizerObjectiveValue
    {
        internal OptimizerObjectiveValue()
        {
        }

        public Structure Structure { get { return null; } }

        public double Value { get { return double.NaN; } }
    }

    public class OptimizerDVH
    {
        internal OptimizerDVH()
        {
        }

        public DVHPoint[] CurveData { get { return new DVHPoint[0]; } }

        public Structure Structure { get { return null; } }
    }
}
