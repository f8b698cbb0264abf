using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    public class PlanningItem : ApiDataObject
    {
        internal Course _course;
        internal StructureSet _structureSet;
        internal DoseData _doseData;
        internal bool _isEvaluationDose;
        private PlanningItemDose _doseWrapper;
        private EvaluationDose _evaluationWrapper;
        internal DoseValuePresentation _presentation = StubDefaults.DosePresentation;

        internal PlanningItem()
        {
        }

        internal virtual double NormalisationFactor { get { return 1.0; } }

        internal virtual double TotalDoseGy { get { return double.NaN; } }

        /// <summary>A dose in Gy as this item presents it (system unit, or % of the total dose).</summary>
        internal DoseValue Present(double gy)
        {
            return PresentAs(gy, _presentation);
        }

        internal DoseValue PresentAs(double gy, DoseValuePresentation presentation)
        {
            if (presentation == DoseValuePresentation.Relative)
            {
                return new DoseValue(100.0 * gy / TotalDoseGy, DoseValue.DoseUnit.Percent);
            }
            return StubRuntime.FromGy(gy);
        }

        /// <summary>The dose as a PlanningItemDose or an EvaluationDose (one wrapper per dose matrix).</summary>
        internal VMS.TPS.Common.Model.API.Dose DoseObject(bool evaluation)
        {
            if (_doseData == null)
            {
                return null;
            }
            if (evaluation)
            {
                if (_evaluationWrapper == null || _evaluationWrapper._data != _doseData)
                {
                    _evaluationWrapper = new EvaluationDose(this, _doseData);
                }
                return _evaluationWrapper;
            }
            if (_doseWrapper == null || _doseWrapper._data != _doseData)
            {
                _doseWrapper = new PlanningItemDose(this, _doseData);
            }
            return _doseWrapper;
        }

        public DateTime? CreationDateTime { get { return new DateTime(2026, 11, 23, 14, 0, 0); } }

        public PlanningItemDose Dose
        {
            get { return (PlanningItemDose)DoseObject(false); }
        }

        public DoseValuePresentation DoseValuePresentation
        {
            get { return _presentation; }
            set { _presentation = value; }
        }

        public StructureSet StructureSet { get { return _structureSet; } }

        public Course Course { get { return _course; } }

        /// <summary>Absolute normalised Gy of every dose voxel whose centre is inside the structure, or null.</summary>
        internal double[] StructureDosesGy(Structure structure)
        {
            if (_doseData == null || structure == null || _structureSet == null
                || !_structureSet._structures.Contains(structure) || structure.IsEmpty)
            {
                return null;
            }
            bool[] mask = structure.MaskOn(_doseData.Grid);
            List<double> doses = new List<double>();
            double scale = _doseData.ScaleGy * NormalisationFactor;
            double offset = _doseData.OffsetGy * NormalisationFactor;
            for (int n = 0; n < mask.Length; n++)
            {
                if (mask[n])
                {
                    doses.Add(offset + _doseData.Raw[n] * scale);
                }
            }
            return doses.Count == 0 ? null : doses.ToArray();
        }

        public DVHData GetDVHCumulativeData(Structure structure, DoseValuePresentation dosePresentation,
            VolumePresentation volumePresentation, double binWidth)
        {
            if (!(binWidth > 0))
            {
                throw new ArgumentException("binWidth must be > 0.", "binWidth");
            }
            double[] gy = StructureDosesGy(structure);
            if (gy == null)
            {
                return null;
            }
            double dv = _doseData.Grid.VoxelVolumeCc;
            double total = gy.Length * dv;
            double[] values = gy.Select(g => PresentAs(g, dosePresentation).Dose).OrderBy(v => v).ToArray();
            DoseValue.DoseUnit unit = PresentAs(0.0, dosePresentation).Unit;
            double max = values[values.Length - 1];
            int bins = (int)Math.Ceiling(max / binWidth) + 1;
            DVHPoint[] curve = new DVHPoint[bins];
            string volumeUnit = volumePresentation == VolumePresentation.Relative ? "%" : "cm³";
            int index = 0;
            for (int b = 0; b < bins; b++)
            {
                double d = b * binWidth;
                while (index < values.Length && values[index] < d)
                {
                    index++;
                }
                double vol = (values.Length - index) * dv;
                curve[b] = new DVHPoint(new DoseValue(d, unit),
                    volumePresentation == VolumePresentation.Relative ? 100.0 * vol / total : vol, volumeUnit);
            }
            double mean = values.Average();
            double variance = values.Select(v => (v - mean) * (v - mean)).Average();
            int mid = values.Length / 2;
            double median = values.Length % 2 == 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
            double coverage = structure.Volume > 0 ? Math.Min(1.0, total / structure.Volume) : 1.0;
            return new DVHData
            {
                _curve = curve,
                _max = new DoseValue(max, unit),
                _min = new DoseValue(values[0], unit),
                _mean = new DoseValue(mean, unit),
                _median = new DoseValue(median, unit),
                _stdDev = Math.Sqrt(variance),
                _volume = total,
                _coverage = coverage,
                _samplingCoverage = coverage,
            };
        }

        public DoseValue GetDoseAtVolume(Structure structure, double volume, VolumePresentation volumePresentation,
            DoseValuePresentation requestedDosePresentation)
        {
            double[] gy = StructureDosesGy(structure);
            if (gy == null)
            {
                return DoseValue.Undefined;
            }
            double dv = _doseData.Grid.VoxelVolumeCc;
            double[] desc = gy.OrderByDescending(v => v).ToArray();
            double cc = volumePresentation == VolumePresentation.Relative ? volume / 100.0 * desc.Length * dv : volume;
            // (i + 1)·dv cm³ receive at least desc[i]; linear between those points.
            double x = cc / dv - 1.0;
            double result;
            if (x <= 0)
            {
                result = desc[0];
            }
            else if (x >= desc.Length - 1)
            {
                result = desc[desc.Length - 1];
            }
            else
            {
                int i0 = (int)Math.Floor(x);
                double t = x - i0;
                result = desc[i0] * (1 - t) + desc[i0 + 1] * t;
            }
            return PresentAs(result, requestedDosePresentation);
        }

        public double GetVolumeAtDose(Structure structure, DoseValue dose, VolumePresentation requestedVolumePresentation)
        {
            if (dose.Unit != DoseValue.DoseUnit.Percent && dose.Unit != StubRuntime.SystemDoseUnit)
            {
                // The wording Eclipse uses (public-script evidence); the exception type is unconfirmed.
                throw new ArgumentException("Dose Units do not match to system settings", "dose");
            }
            double[] gy = StructureDosesGy(structure);
            if (gy == null)
            {
                return double.NaN;
            }
            double threshold = dose.Unit == DoseValue.DoseUnit.Percent ? dose.Dose / 100.0 * TotalDoseGy
                                                                       : StubRuntime.SystemUnitToGy(dose, "dose");
            int count = gy.Count(v => v >= threshold);
            return requestedVolumePresentation == VolumePresentation.Relative
                ? 100.0 * count / gy.Length
                : count * _doseData.Grid.VoxelVolumeCc;
        }
    }

    internal static class StubDefaults
    {
        internal static DoseValuePresentation DosePresentation = DoseValuePresentation.Absolute;

        /// <summary>Calibration offset of newly built doses, Gy (VoxelToDoseValue(0)); default 0.</summary>
        internal static double DoseOffsetGy;
    }

    /// <summary>A beam's multileaf collimator (only its Id, the add-on's configured identifier).</summary>
    public class MLC : ApiDataObject
    {
        internal MLC(Patient owner, string id)
        {
            _owner = owner;
            _id = id;
        }
    }

    public class Beam : ApiDataObject
    {
        /// <summary>The MLC of a beam added by AddVMATBeam (the stand-in's machine has one MLC).</summary>
        internal const string MachineMlcId = "Millennium 120";

        internal readonly PlanSetup _plan;
        internal readonly double _gantry;
        internal readonly string _technique;
        internal readonly MLC _mlc;
        internal GantryDirection _direction;

        internal Beam(PlanSetup plan, string id, double gantry, string technique, string mlcId)
        {
            _owner = plan._owner;
            _plan = plan;
            _id = id;
            _gantry = gantry;
            _technique = technique;
            _mlc = string.IsNullOrEmpty(mlcId) ? null : new MLC(plan._owner, mlcId);
            // a stub patient's beam says only ARC or not; an arc's direction is the stand-in's choice
            // (AddVMATBeam keeps the one it is given)
            _direction = technique == "ARC" ? GantryDirection.Clockwise : GantryDirection.None;
        }

        /// <summary>The beam's MLC, or null for a beam without one.</summary>
        public MLC MLC { get { return _mlc; } }

        /// <summary>None for a static beam, the rotation of an arc (public scripts test it to tell arcs
        /// from static fields).</summary>
        public GantryDirection GantryDirection { get { return _direction; } }

        /// <summary>Always false: the stand-in models no setup fields.</summary>
        public bool IsSetupField { get { return false; } }

        internal override string LockReason()
        {
            return _plan.LockReason();
        }
    }

    public class PlanSetup : PlanningItem
    {
        internal const string NoNormalization = "No plan normalization";
        internal const string ValueNormalization = "Plan Normalization Value";

        internal PlanSetupApprovalStatus _approval = PlanSetupApprovalStatus.UnApproved;
        internal bool _treated;
        internal int? _fractions;
        internal double _dosePerFractionGy = double.NaN;
        internal double _treatmentPercentage = 1.0;
        internal double _normValue = double.NaN;
        internal string _normMethod = NoNormalization;
        internal string _targetId = "";
        internal readonly string _uid;
        internal readonly List<Beam> _beams = new List<Beam>();
        internal readonly OptimizationSetup _optimizationSetup;
        internal readonly Dictionary<CalculationType, string> _models = new Dictionary<CalculationType, string>();
        internal readonly DoseGrid _grid;
        internal DoseData _optimised;
        internal bool _leafMotionsNeeded;
        internal bool _evaluationVoxelsSet;
        internal PlanSetup _verifiedPlan;
        internal DoseData _engineResult;
        internal string _startOption = "";

        internal PlanSetup(Course course, string id, StructureSet structureSet, DoseGrid grid)
        {
            _owner = course._owner;
            _course = course;
            _id = id;
            _structureSet = structureSet;
            _grid = grid;
            _uid = StubRuntime.NewUid();
            _optimizationSetup = new OptimizationSetup(this);
            foreach (CalculationType t in new[] { CalculationType.PhotonVolumeDose, CalculationType.PhotonVMATOptimization,
                                                  CalculationType.PhotonIMRTOptimization, CalculationType.PhotonLeafMotions })
            {
                _models[t] = StubModels.For(t)[0];
            }
        }

        internal override string LockReason()
        {
            if (_approval != PlanSetupApprovalStatus.UnApproved)
            {
                return "Plan '" + _id + "' is " + _approval + " and cannot be modified.";
            }
            if (_treated)
            {
                return "Plan '" + _id + "' has been treated and cannot be modified.";
            }
            return _course == null ? null : _course.LockReason();
        }

        internal override double NormalisationFactor
        {
            get { return double.IsNaN(_normValue) ? 1.0 : 100.0 / _normValue; }
        }

        internal override double TotalDoseGy
        {
            get { return _fractions.HasValue ? _dosePerFractionGy * _fractions.Value : double.NaN; }
        }

        internal void InvalidateDose()
        {
            _doseData = null;
            _optimised = null;
            _isEvaluationDose = false;
        }

        public PlanSetupApprovalStatus ApprovalStatus { get { return _approval; } }

        public IEnumerable<Beam> Beams { get { return StubRuntime.Seq(_beams); } }

        public string CreationUserName { get { return "reirrad-stub"; } }

        public bool IsDoseValid { get { return _doseData != null; } }

        public bool IsTreated { get { return _treated; } }

        public OptimizationSetup OptimizationSetup { get { return _optimizationSetup; } }

        public string PhotonCalculationModel { get { return GetCalculationModel(CalculationType.PhotonVolumeDose); } }

        public string PlanIntent { get { return "CURATIVE"; } }

        public string PlanNormalizationMethod { get { return _normMethod; } }

        public VVector PlanNormalizationPoint { get { return new VVector(double.NaN, double.NaN, double.NaN); } }

        public string ProtocolID { get { return ""; } }

        public string ProtocolPhaseID { get { return ""; } }

        public string TargetVolumeID { get { return _targetId; } }

        public string UID { get { return _uid; } }

        public PlanSetup VerifiedPlan { get { return _verifiedPlan; } }

        public new string Id
        {
            get { return _id; }
            set
            {
                Guard("Id");
                RequireId(value, "Plan");
                if (_course._plans.Any(p => p != this && p._id == value))
                {
                    throw new ArgumentException("A plan with id '" + value + "' already exists in the course.");
                }
                _id = value;
                Record("set_Id", value);
            }
        }

        /// <summary>Percent; NaN when there is no plan normalisation. Dose = calculated dose × 100 / value.</summary>
        public double PlanNormalizationValue
        {
            get { return _normValue; }
            set
            {
                Guard("PlanNormalizationValue");
                if (double.IsNaN(value) || double.IsInfinity(value) || value <= 0)
                {
                    throw new ArgumentException("The plan normalization value must be a positive percentage.", "value");
                }
                _normValue = value;
                _normMethod = ValueNormalization;
                Record("set_PlanNormalizationValue", value);
            }
        }

        public DoseValue DosePerFraction
        {
            get { return _fractions.HasValue ? StubRuntime.FromGy(_dosePerFractionGy) : DoseValue.Undefined; }
        }

        public int? NumberOfFractions { get { return _fractions; } }

        public DoseValue PlannedDosePerFraction
        {
            get
            {
                return _fractions.HasValue ? StubRuntime.FromGy(_dosePerFractionGy / _treatmentPercentage)
                                           : DoseValue.Undefined;
            }
        }

        public DoseValue TotalDose
        {
            get { return _fractions.HasValue ? StubRuntime.FromGy(TotalDoseGy) : DoseValue.Undefined; }
        }

        public double TreatmentPercentage { get { return _treatmentPercentage; } }

        [Obsolete("Use TreatmentPercentage instead")]
        public double PrescribedPercentage { get { return _treatmentPercentage; } }

        [Obsolete("Use TotalDose instead")]
        public DoseValue TotalPrescribedDose { get { return TotalDose; } }

        [Obsolete("Use PlannedDosePerFraction instead")]
        public DoseValue DosePerFractionInPrimaryRefPoint { get { return PlannedDosePerFraction; } }

        [Obsolete("Use DosePerFraction instead")]
        public DoseValue PrescribedDosePerFraction { get { return DosePerFraction; } }

        /// <summary>dosePerFraction in the system unit; treatmentPercentage as a decimal (0.8 = 80 %).
        /// The stand-in invalidates an existing dose (recalculate afterwards).</summary>
        public void SetPrescription(int numberOfFractions, DoseValue dosePerFraction, double treatmentPercentage)
        {
            Guard("SetPrescription");
            if (numberOfFractions < 1)
            {
                throw new ArgumentOutOfRangeException("numberOfFractions", numberOfFractions, "must be >= 1");
            }
            double gy = StubRuntime.SystemUnitToGy(dosePerFraction, "dosePerFraction");
            if (!(gy > 0))
            {
                throw new ArgumentOutOfRangeException("dosePerFraction", dosePerFraction.ToString(), "must be > 0");
            }
            if (!(treatmentPercentage > 0 && treatmentPercentage <= 1.0))
            {
                throw new ArgumentOutOfRangeException("treatmentPercentage", treatmentPercentage,
                    "the treatment percentage is a decimal number in (0, 1] (80 % is 0.8)");
            }
            _fractions = numberOfFractions;
            _dosePerFractionGy = gy;
            _treatmentPercentage = treatmentPercentage;
            InvalidateDose();
            Record("SetPrescription", numberOfFractions, dosePerFraction, treatmentPercentage);
        }

        public string GetCalculationModel(CalculationType calculationType)
        {
            string model;
            return _models.TryGetValue(calculationType, out model) ? model : "";
        }

        public void SetCalculationModel(CalculationType calculationType, string model)
        {
            Guard("SetCalculationModel");
            if (!StubModels.For(calculationType).Contains(model))
            {
                throw new ArgumentException("Unknown calculation model '" + model + "' for " + calculationType
                    + "; available: " + string.Join(", ", StubModels.For(calculationType)), "model");
            }
            _models[calculationType] = model;
            Record("SetCalculationModel", calculationType, model);
        }

        public void ClearCalculationModel(CalculationType calculationType)
        {
            Guard("ClearCalculationModel");
            _models.Remove(calculationType);
            Record("ClearCalculationModel", calculationType);
        }
    }

    internal static class StubModels
    {
        internal static string[] For(CalculationType type)
        {
            switch (type)
            {
                case CalculationType.PhotonVolumeDose: return new[] { "AcurosXB_15606", "AAA_15606" };
                case CalculationType.PhotonVMATOptimization: return new[] { "PO_15606" };
                case CalculationType.PhotonIMRTOptimization: return new[] { "PO_15606" };
                case CalculationType.PhotonLeafMotions: return new[] { "Smart LMC [15.6.06]", "Varian Leaf Motion Calculator [15.6.06]" };
                default: return new string[0];
            }
        }
    }

    /// <summary>A brachytherapy plan: a PlanSetup with a prescription, approval and (read-only) dose; no
    /// brachy-specific members (catheters, sources, TG-43) are modelled.</summary>
    public class BrachyPlanSetup : PlanSetup
    {
        internal BrachyPlanSetup(Course course, string id, StructureSet structureSet, DoseGrid grid)
            : base(course, id, structureSet, grid)
        {
        }
    }

    public class ExternalPlanSetup : PlanSetup
    {
        internal ExternalPlanSetup(Course course, string id, StructureSet structureSet, DoseGrid grid)
            : base(course, id, structureSet, grid)
        {
        }

        public EvaluationDose DoseAsEvaluationDose
        {
            get { return _isEvaluationDose ? (EvaluationDose)DoseObject(true) : null; }
        }

        public IEnumerable<string> GetModelsForCalculationType(CalculationType calculationType)
        {
            return StubRuntime.Seq(StubModels.For(calculationType));
        }

        private bool RunEngine(string operation)
        {
            if (StubRuntime.DoseEngine == null)
            {
                throw new InvalidOperationException("No stand-in planner is registered (Reirrad.EsapiStubBuilder.StubSystem.Planner).");
            }
            _engineResult = null;
            bool ok = StubRuntime.DoseEngine(this, operation);
            return ok && _engineResult != null;
        }

        private OptimizerResult RunOptimizer(string member, bool vmat, int maxIterations, params object[] args)
        {
            Guard(member);
            if (!vmat && maxIterations < 1)
            {
                // the reference gives no bound; fewer than one iteration is meaningless (the stricter reading)
                throw new ArgumentOutOfRangeException("maxIterations", maxIterations, "must be >= 1");
            }
            if (_beams.Count == 0)
            {
                throw new InvalidOperationException("Plan '" + _id + "' has no beams to optimize.");
            }
            if (!_optimizationSetup._objectives.Any())
            {
                throw new InvalidOperationException("Plan '" + _id + "' has no optimization objectives.");
            }
            // the optimiser and the beams' technique: what Eclipse does with arcs given to the IMRT
            // optimiser (or static fields to the VMAT one) is not in the reference; the stand-in refuses
            // both (the stricter reading)
            List<string> mismatched = _beams.Where(b => (b._direction == GantryDirection.None) == vmat)
                .Select(b => b._id).ToList();
            if (mismatched.Count > 0)
            {
                throw new InvalidOperationException("Plan '" + _id + "': " + member + " cannot optimize "
                    + (vmat ? "static" : "arc") + " fields (" + string.Join(", ", mismatched) + ").");
            }
            // the MLC: the documentation of the overloads without an MLC id says "If there are more than
            // one MLC or no MLC at all, an exception is thrown"; an MLC id no beam carries is refused too
            // (the real behaviour is not documented; the stand-in is strict)
            string mlcId = null;
            foreach (object arg in args)
            {
                if (arg is string)
                {
                    mlcId = (string)arg;
                }
            }
            List<string> mlcs = _beams.Where(b => b._mlc != null).Select(b => b._mlc._id).Distinct().ToList();
            if (mlcId == null && mlcs.Count != 1)
            {
                throw new InvalidOperationException("Plan '" + _id + "': " + (mlcs.Count == 0 ? "no MLC" : "more than one MLC ("
                    + string.Join(", ", mlcs) + ")") + " in the plan's beams; give the MLC id.");
            }
            if (mlcId != null && !mlcs.Contains(mlcId))
            {
                throw new InvalidOperationException("Plan '" + _id + "': no beam has MLC '" + mlcId + "'.");
            }
            // the start option the call gives; "" when it gives none (the API's default is not documented:
            // the Python side decides, see tps_stubs.esapi.set_default_start_option)
            _startOption = "";
            foreach (object arg in args)
            {
                if (arg is OptimizationOption)
                {
                    _startOption = arg.ToString();
                }
            }
            bool ok = RunEngine(member);
            Record(member, args);
            if (!ok)
            {
                return new OptimizerResult(false, 0);
            }
            _doseData = null;
            _isEvaluationDose = false;
            _optimised = _engineResult;
            _leafMotionsNeeded = !vmat;
            _normValue = double.NaN;
            _normMethod = NoNormalization;
            return new OptimizerResult(true, vmat ? 0 : maxIterations);
        }

        public OptimizerResult Optimize()
        {
            return RunOptimizer("Optimize", false, 1000);
        }

        public OptimizerResult Optimize(int maxIterations)
        {
            return RunOptimizer("Optimize", false, maxIterations, maxIterations);
        }

        public OptimizerResult Optimize(int maxIterations, OptimizationOption optimizationOption)
        {
            return RunOptimizer("Optimize", false, maxIterations, maxIterations, optimizationOption);
        }

        public OptimizerResult Optimize(int maxIterations, OptimizationOption optimizationOption, string mlcId)
        {
            return RunOptimizer("Optimize", false, maxIterations, maxIterations, optimizationOption, mlcId);
        }

        public OptimizerResult Optimize(OptimizationOptionsIMRT options)
        {
            if (options == null)
            {
                throw new ArgumentNullException("options");
            }
            return RunOptimizer("Optimize", false, options.MaximumNumberOfIterations, options.MaximumNumberOfIterations,
                options.StartOption, options.ConvergenceOption, options.IntermediateDoseOption, options.MLC);
        }

        public OptimizerResult OptimizeVMAT()
        {
            return RunOptimizer("OptimizeVMAT", true, 0);
        }

        public OptimizerResult OptimizeVMAT(string mlcId)
        {
            return RunOptimizer("OptimizeVMAT", true, 0, mlcId);
        }

        public OptimizerResult OptimizeVMAT(OptimizationOptionsVMAT options)
        {
            if (options == null)
            {
                throw new ArgumentNullException("options");
            }
            return RunOptimizer("OptimizeVMAT", true, 0, options.StartOption, options.IntermediateDoseOption,
                options.NumberOfOptimizationCycles, options.MLC);
        }

        private CalculationResult LeafMotions(string member, params object[] args)
        {
            Guard(member);
            Record(member, args);
            if (_beams.Count == 0)
            {
                return new CalculationResult(false);
            }
            _leafMotionsNeeded = false;
            return new CalculationResult(true);
        }

        public CalculationResult CalculateLeafMotions()
        {
            return LeafMotions("CalculateLeafMotions");
        }

        public CalculationResult CalculateLeafMotions(LMCVOptions options)
        {
            return LeafMotions("CalculateLeafMotions", options == null ? (object)null : options.FixedJaws);
        }

        public CalculationResult CalculateLeafMotions(SmartLMCOptions options)
        {
            return LeafMotions("CalculateLeafMotions", options == null ? null : options.FixedFieldBorders + "/" + options.JawTracking);
        }

        /// <summary>Success is false when the plan has no beams or no prescription, after an IMRT
        /// optimisation whose leaf motions were not calculated, or while a transient failure is injected
        /// (StubSystem.DoseCalculationFailures: the call is journalled and the plan left as it was).</summary>
        public CalculationResult CalculateDose()
        {
            Guard("CalculateDose");
            Record("CalculateDose");
            if (StubRuntime.DoseCalculationFailures > 0)
            {
                StubRuntime.DoseCalculationFailures--;
                return new CalculationResult(false);
            }
            return new CalculationResult(CalculateDoseCore());
        }

        private bool CalculateDoseCore()
        {
            if (_beams.Count == 0 || _leafMotionsNeeded || !_fractions.HasValue)
            {
                return false;
            }
            if (_optimised == null)
            {
                if (!RunEngine("CalculateDose"))
                {
                    return false;
                }
                _optimised = _engineResult;
            }
            _doseData = _optimised;
            _isEvaluationDose = false;
            return true;
        }

        public CalculationResult CalculateLeafMotionsAndDose()
        {
            Guard("CalculateLeafMotionsAndDose");
            Record("CalculateLeafMotionsAndDose");
            if (_beams.Count == 0)
            {
                return new CalculationResult(false);
            }
            _leafMotionsNeeded = false;
            return new CalculationResult(CalculateDoseCore());
        }

        public EvaluationDose CreateEvaluationDose()
        {
            Guard("CreateEvaluationDose");
            RequireNoBeams();
            _doseData = new DoseData(_grid, new int[_grid.Count], StubRuntime.EvaluationDoseScaleGy);
            _isEvaluationDose = true;
            _evaluationVoxelsSet = false;
            _optimised = null;
            Record("CreateEvaluationDose");
            return (EvaluationDose)DoseObject(true);
        }

        public EvaluationDose CopyEvaluationDose(Dose existing)
        {
            Guard("CopyEvaluationDose");
            RequireNoBeams();
            if (existing == null)
            {
                throw new ArgumentNullException("existing");
            }
            _doseData = new DoseData(existing._data.Grid, (int[])existing._data.Raw.Clone(), existing.EffectiveScaleGy,
                existing.EffectiveOffsetGy);
            _isEvaluationDose = true;
            _evaluationVoxelsSet = true;
            _optimised = null;
            Record("CopyEvaluationDose", existing._item);
            return (EvaluationDose)DoseObject(true);
        }

        private void RequireNoBeams()
        {
            if (_beams.Count > 0)
            {
                throw new InvalidOperationException("To create an evaluation dose, the plan must not contain any beams "
                    + "(plan '" + _id + "' has " + _beams.Count + ").");
            }
        }

        public Beam AddVMATBeam(ExternalBeamMachineParameters machineParameters, IEnumerable<double> metersetWeights,
            double collimatorAngle, double gantryAngle, double gantryStop, GantryDirection gantryDirection,
            double patientSupportAngle, VVector isocenter)
        {
            Guard("AddVMATBeam");
            if (machineParameters == null)
            {
                throw new ArgumentNullException("machineParameters");
            }
            double[] weights = metersetWeights == null ? new double[0] : metersetWeights.ToArray();
            if (weights.Length < 2)
            {
                throw new ArgumentException("A VMAT beam needs at least 2 meterset weights.", "metersetWeights");
            }
            if (gantryDirection == GantryDirection.None)
            {
                throw new ArgumentException("A VMAT beam needs a gantry direction.", "gantryDirection");
            }
            if (_isEvaluationDose)
            {
                throw new InvalidOperationException("Plan '" + _id + "' has an evaluation dose; beams cannot be added.");
            }
            int n = _beams.Count + 1;
            while (_beams.Any(b => b._id == "Field " + n.ToString(CultureInfo.InvariantCulture)))
            {
                n++;
            }
            Beam beam = new Beam(this, "Field " + n.ToString(CultureInfo.InvariantCulture), gantryAngle, "ARC",
                Beam.MachineMlcId);
            beam._direction = gantryDirection;
            _beams.Add(beam);
            InvalidateDose();
            Record("AddVMATBeam", machineParameters.MachineId, weights.Length, collimatorAngle, gantryAngle, gantryStop,
                gantryDirection, patientSupportAngle, isocenter);
            return beam;
        }

        public void RemoveBeam(Beam beam)
        {
            Guard("RemoveBeam");
            if (beam == null || !_beams.Contains(beam))
            {
                throw new ArgumentException("The beam does not belong to this plan.", "beam");
            }
            _beams.Remove(beam);
            InvalidateDose();
            Record("RemoveBeam", beam);
        }
    }

    public class PlanSum : PlanningItem
    {
        internal readonly List<PlanSumComponent> _components = new List<PlanSumComponent>();
        internal readonly List<PlanSetup> _planSetups = new List<PlanSetup>();

        internal PlanSum()
        {
        }

        public IEnumerable<PlanSumComponent> PlanSumComponents { get { return StubRuntime.Seq(_components); } }

        public IEnumerable<PlanSetup> PlanSetups { get { return StubRuntime.Seq(_planSetups); } }

        public PlanSumOperation GetPlanSumOperation(PlanSetup planSetupInPlanSum)
        {
            PlanSumComponent c = _components.FirstOrDefault(x => x._id == (planSetupInPlanSum == null ? null : planSetupInPlanSum.Id));
            return c == null ? PlanSumOperation.Undefined : c._operation;
        }

        public double GetPlanWeight(PlanSetup planSetupInPlanSum)
        {
            PlanSumComponent c = _components.FirstOrDefault(x => x._id == (planSetupInPlanSum == null ? null : planSetupInPlanSum.Id));
            return c == null ? double.NaN : c._weight;
        }
    }

    public class PlanSumComponent : ApiDataObject
    {
        internal PlanSumOperation _operation;
        internal double _weight;

        internal PlanSumComponent()
        {
        }

        public string PlanSetupId { get { return _id; } }

        public PlanSumOperation PlanSumOperation { get { return _operation; } }

        public double PlanWeight { get { return _weight; } }
    }
}
