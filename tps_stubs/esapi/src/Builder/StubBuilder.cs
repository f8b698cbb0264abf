// Reirrad.EsapiStubBuilder: the construction and configuration API of the ESAPI stand-in. The real
// ESAPI has no public builders, so everything that populates the object model lives here and reaches
// the API assemblies' internals through [assembly: InternalsVisibleTo]. Not part of ESAPI.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using VMS.TPS.Common.Model.API;
using VMS.TPS.Common.Model.Types;

[assembly: AssemblyTitle("Reirrad.EsapiStubBuilder")]
[assembly: AssemblyDescription("Builds and configures the reirrad ESAPI stand-in (not part of ESAPI)")]
[assembly: AssemblyVersion("0.1.0.0")]

namespace Reirrad.EsapiStubBuilder
{
    /// <summary>Computes a plan's dose; return false when the calculation fails (Success = false).</summary>
    public delegate bool PlannerCallback(PlannerRequest request);

    /// <summary>Builds the patient with this id for Application.OpenPatientById, or returns null.</summary>
    public delegate Patient PatientProvider(string patientId);

    /// <summary>One recorded write of a modifying ESAPI member.</summary>
    public sealed class JournalEntry
    {
        internal JournalEntry(int sequence, string objectType, string objectId, string member, string[] arguments)
        {
            Sequence = sequence;
            ObjectType = objectType;
            ObjectId = objectId;
            Member = member;
            Arguments = arguments;
        }

        public int Sequence { get; private set; }

        public string ObjectType { get; private set; }

        public string ObjectId { get; private set; }

        public string Member { get; private set; }

        public string[] Arguments { get; private set; }
    }

    /// <summary>What the stand-in planner needs to compute a plan's dose.</summary>
    public sealed class PlannerRequest
    {
        private readonly ExternalPlanSetup _plan;
        private readonly string _operation;

        internal PlannerRequest(ExternalPlanSetup plan, string operation)
        {
            _plan = plan;
            _operation = operation;
        }

        public ExternalPlanSetup Plan { get { return _plan; } }

        /// <summary>"Optimize", "OptimizeVMAT" or "CalculateDose".</summary>
        public string Operation { get { return _operation; } }

        /// <summary>The optimisation's start option ("RestartOptimization", "ContinueOptimization",
        /// "ContinueOptimizationWithPlanDoseAsIntermediateDose"); "" when the call gave none.</summary>
        public string StartOption { get { return _plan._startOption; } }

        /// <summary>"course/plan" (the stand-in optimiser keeps one state per plan).</summary>
        public string PlanId { get { return _plan._course._id + "/" + _plan._id; } }

        public string PatientId { get { return _plan._owner.Id; } }

        public string StructureSetId { get { return _plan._structureSet == null ? "" : _plan._structureSet.Id; } }

        public string ImageId { get { return _plan._structureSet == null ? "" : _plan._structureSet._image.Id; } }

        public string ImageFrameOfReference
        {
            get { return _plan._structureSet == null ? "" : _plan._structureSet._image.FOR; }
        }

        public string TargetVolumeId { get { return _plan._targetId; } }

        public int? NumberOfFractions { get { return _plan._fractions; } }

        /// <summary>TOTAL prescribed dose in Gy (NaN when there is no prescription).</summary>
        public double TotalDoseGy { get { return _plan.TotalDoseGy; } }

        public OptimizationObjective[] Objectives { get { return _plan._optimizationSetup._objectives.ToArray(); } }

        /// <summary>Centre of voxel [0,0,0], mm (x, y, z).</summary>
        public double[] GridOrigin { get { return (double[])_plan._grid.Origin.Clone(); } }

        public double[] GridSpacing { get { return (double[])_plan._grid.Spacing.Clone(); } }

        public int[] GridSize { get { return (int[])_plan._grid.Size.Clone(); } }

        /// <summary>Row-major 3×3; column c is the patient-space unit vector of index axis c.</summary>
        public double[] GridDirection { get { return (double[])_plan._grid.Direction.Clone(); } }

        /// <summary>Ids of the structures of the plan's structure set (empty without one).</summary>
        public string[] StructureIds
        {
            get
            {
                return _plan._structureSet == null ? new string[0]
                    : _plan._structureSet._structures.Select(s => s._id).ToArray();
            }
        }

        /// <summary>The voxels of the plan's calculation grid whose centres lie inside structure
        /// <paramref name="structureId"/> of the plan's structure set (its current contours, e.g. those a
        /// script set through <c>SegmentVolume</c>), flat in [z][y][x] order; a copy. Builder hook for the
        /// stand-in optimiser (structures made in the TPS), not ESAPI.</summary>
        public bool[] StructureMask(string structureId)
        {
            if (_plan._structureSet == null)
            {
                throw new InvalidOperationException("Plan '" + _plan._id + "' has no structure set.");
            }
            Structure found = _plan._structureSet._structures.FirstOrDefault(s => s._id == structureId);
            if (found == null)
            {
                throw new ArgumentException("No structure '" + structureId + "' in structure set '"
                    + _plan._structureSet._id + "'.", "structureId");
            }
            return (bool[])found.MaskOn(_plan._grid).Clone();
        }

        /// <summary>The computed TOTAL dose in Gy on the plan's grid, flat in [z][y][x] order.</summary>
        public void SetDose(double[] valuesGy)
        {
            _plan._engineResult = DoseData.FromGy(_plan._grid, valuesGy);
        }
    }

    /// <summary>System configuration, session, journal and hooks of the stand-in.</summary>
    public static class StubSystem
    {
        private static PlannerCallback _planner;
        private static PatientProvider _provider;

        /// <summary>false (default): a clinical system. true: a non-clinical / research system where every
        /// session may write (still only after Patient.BeginModifications).</summary>
        public static bool ResearchMode
        {
            get { return StubRuntime.ResearchMode; }
            set { StubRuntime.ResearchMode = value; }
        }

        /// <summary>The clinic's configured dose unit: Gy or cGy.</summary>
        public static DoseValue.DoseUnit DoseUnit
        {
            get { return StubRuntime.SystemDoseUnit; }
            set
            {
                if (value != DoseValue.DoseUnit.Gy && value != DoseValue.DoseUnit.cGy)
                {
                    throw new ArgumentException("The system dose unit must be Gy or cGy.");
                }
                StubRuntime.SystemDoseUnit = value;
            }
        }

        /// <summary>How Structure.AddContourOnImagePlane combines a contour with the plane's segment:
        /// "xor" (default: exclusive-or, the even-odd rule of DICOM contours) or "union". Eclipse's behaviour
        /// is unconfirmed (DEVIATIONS.md); loaded structures always combine by the even-odd rule.</summary>
        public static string ContourAddition
        {
            get { return StubRuntime.ContourAddUnion ? "union" : "xor"; }
            set
            {
                if (value != "xor" && value != "union")
                {
                    throw new ArgumentException("ContourAddition must be \"xor\" or \"union\".");
                }
                StubRuntime.ContourAddUnion = value == "union";
            }
        }

        /// <summary>What locks a structure set: "plans" (default: its own approval, or an approved or treated
        /// plan that uses it) or "approval" (its own approval only). Eclipse's behaviour is unconfirmed
        /// (DEVIATIONS.md).</summary>
        public static string StructureSetLock
        {
            get { return StubRuntime.PlansLockStructureSets ? "plans" : "approval"; }
            set
            {
                if (value != "plans" && value != "approval")
                {
                    throw new ArgumentException("StructureSetLock must be \"plans\" or \"approval\".");
                }
                StubRuntime.PlansLockStructureSets = value == "plans";
            }
        }

        /// <summary>Whether plug-in contexts are approved write-enabled scripts (default true).</summary>
        public static bool PluginWriteable
        {
            get { return StubRuntime.PluginWriteable; }
            set { StubRuntime.PluginWriteable = value; }
        }

        /// <summary>Calibration offset (Gy) of newly built doses: VoxelToDoseValue(0) in Gy before
        /// normalisation (default 0; Eclipse's own doses have 0, other scalings may not).</summary>
        public static double DoseOffsetGy
        {
            get { return StubDefaults.DoseOffsetGy; }
            set
            {
                if (double.IsNaN(value) || double.IsInfinity(value))
                {
                    throw new ArgumentException("DoseOffsetGy must be finite");
                }
                StubDefaults.DoseOffsetGy = value;
            }
        }

        /// <summary>DoseValuePresentation of newly built plans (default Absolute).</summary>
        public static DoseValuePresentation DefaultDosePresentation
        {
            get { return StubDefaults.DosePresentation; }
            set { StubDefaults.DosePresentation = value; }
        }

        /// <summary>Fault injection: the next n CalculateDose calls return Success false and leave the plan
        /// as it was (each call is journalled), then calculations succeed again: a transient dose
        /// calculation failure, such as the Eclipse 16.1 one that a single retry works around. Session
        /// state, not configuration: set it after the session starts; Reset() and a new plug-in context
        /// clear it. Default 0.</summary>
        public static int DoseCalculationFailures
        {
            get { return StubRuntime.DoseCalculationFailures; }
            set
            {
                if (value < 0)
                {
                    throw new ArgumentException("DoseCalculationFailures must be >= 0");
                }
                StubRuntime.DoseCalculationFailures = value;
            }
        }

        public static PlannerCallback Planner
        {
            get { return _planner; }
            set
            {
                _planner = value;
                if (value == null)
                {
                    StubRuntime.DoseEngine = null;
                }
                else
                {
                    StubRuntime.DoseEngine = (plan, operation) => value(new PlannerRequest(plan, operation));
                }
            }
        }

        public static PatientProvider PatientProvider
        {
            get { return _provider; }
            set
            {
                _provider = value;
                if (value == null)
                {
                    StubRuntime.PatientProvider = null;
                }
                else
                {
                    StubRuntime.PatientProvider = id => value(id);
                }
            }
        }

        /// <summary>The ids listed by Application.PatientSummaries.</summary>
        public static void SetPatientIds(string[] ids)
        {
            StubRuntime.PatientIds = ids == null ? new string[0] : (string[])ids.Clone();
        }

        public static bool ApplicationCreated { get { return StubRuntime.ApplicationCreated; } }

        public static JournalEntry[] GetJournal()
        {
            return StubRuntime.Journal
                .Select(r => new JournalEntry(r.Sequence, r.ObjectType, r.ObjectId, r.Member, (string[])r.Arguments.Clone()))
                .ToArray();
        }

        public static void ClearJournal()
        {
            StubRuntime.Journal.Clear();
        }

        /// <summary>Test support: forget the process's Application (the one-per-process rule), the session
        /// and the journal. Configuration (mode, unit, hooks) is kept.</summary>
        public static void Reset()
        {
            if (StubRuntime.CurrentApplication != null)
            {
                StubRuntime.CurrentApplication.Dispose();
            }
            StubRuntime.Reset();
        }

        /// <summary>A plug-in ScriptContext (as Eclipse passes to Script.Execute) on this patient, course and
        /// plan. Starts a new plug-in session and clears the journal.</summary>
        public static ScriptContext CreatePluginContext(Patient patient, Course course, PlanSetup plan, string applicationName)
        {
            if (StubRuntime.ApplicationCreated)
            {
                throw new InvalidOperationException("An Application exists in this process; a plug-in context cannot "
                    + "be created as well (call StubSystem.Reset() first).");
            }
            StubRuntime.Reset();
            StubRuntime.Session = StubSession.Plugin;
            StubContextData data = new StubContextData { Patient = patient, Course = course, PlanSetup = plan };
            return new ScriptContext(data, null, applicationName);
        }
    }

    /// <summary>Builds the object model. Geometry: mm, origin = centre of voxel [0,0,0], direction row-major
    /// 3×3 with column c = patient-space unit vector of index axis c; voxel arrays flat in [z][y][x] order.</summary>
    public static class ModelBuilder
    {
        private static DoseGrid Grid(double[] origin, double[] spacing, int[] size, double[] direction)
        {
            return new DoseGrid(origin, spacing, size, direction);
        }

        private static DateTime? ParseDate(string iso)
        {
            if (string.IsNullOrEmpty(iso))
            {
                return null;
            }
            return DateTime.ParseExact(iso, "yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture);
        }

        public static Patient NewPatient(string id, string lastName, string firstName, string sex)
        {
            Patient p = new Patient();
            p._id = id;
            p._lastName = lastName ?? "";
            p._firstName = firstName ?? "";
            p._sex = string.IsNullOrEmpty(sex) ? "Unknown" : sex;
            p._name = string.IsNullOrEmpty(p._firstName) ? p._lastName : p._lastName + ", " + p._firstName;
            return p;
        }

        /// <summary>rawVoxels: CT numbers + 1024 (Image.VoxelToDisplayValue(raw) = raw - 1024 HU).</summary>
        public static Image AddImage(Patient patient, string id, string frameOfReference, double[] origin,
            double[] spacing, int[] size, double[] direction, int[] rawVoxels)
        {
            Image image = new Image(patient, id, frameOfReference, Grid(origin, spacing, size, direction),
                (int[])rawVoxels.Clone());
            patient._images.Add(image);
            return image;
        }

        public static StructureSet AddStructureSet(Patient patient, string id, Image image, bool approved)
        {
            StructureSet set = new StructureSet(patient, id, image, approved);
            patient._structureSets.Add(set);
            return set;
        }

        /// <summary>Contours: for contour n, planes[n] is its image plane index, counts[n] its number of
        /// points; xyz holds all points (mm) one after another.</summary>
        public static Structure AddStructure(StructureSet set, string id, string dicomType, int[] planes, int[] counts,
            double[] xyz)
        {
            Structure s = new Structure(set, id, dicomType, set._structures.Count + 1);
            if (planes.Length != counts.Length || counts.Sum() * 3 != xyz.Length)
            {
                throw new ArgumentException("structure " + id + ": planes, counts and xyz do not agree");
            }
            int offset = 0;
            for (int n = 0; n < planes.Length; n++)
            {
                VVector[] contour = new VVector[counts[n]];
                for (int p = 0; p < counts[n]; p++)
                {
                    contour[p] = new VVector(xyz[offset], xyz[offset + 1], xyz[offset + 2]);
                    offset += 3;
                }
                s.AddContourInternal(contour, planes[n], ContourOp.Xor); // DICOM: even-odd
            }
            set._structures.Add(s);
            return s;
        }

        /// <summary>Dates as "yyyy-MM-ddTHH:mm:ss", or "" for none.</summary>
        public static Course AddCourse(Patient patient, string id, string startDateTime, string completedDateTime)
        {
            Course c = new Course(patient, id, ParseDate(startDateTime), ParseDate(completedDateTime));
            patient._courses.Add(c);
            return c;
        }

        /// <summary>fractions &lt; 0 and totalDoseGy NaN: no prescription; normalizationValue NaN: none.</summary>
        public static ExternalPlanSetup AddExternalPlan(Course course, string id, StructureSet structureSet,
            string targetVolumeId, int fractions, double totalDoseGy, string approvalStatus, bool treated,
            double normalizationValue, double[] gridOrigin, double[] gridSpacing, int[] gridSize, double[] gridDirection)
        {
            ExternalPlanSetup plan = new ExternalPlanSetup(course, id, structureSet,
                Grid(gridOrigin, gridSpacing, gridSize, gridDirection));
            Configure(plan, targetVolumeId, fractions, totalDoseGy, approvalStatus, treated, normalizationValue);
            course._plans.Add(plan);
            return plan;
        }

        /// <summary>A brachytherapy plan (no beams): prescription as <see cref="AddExternalPlan"/>; set its
        /// dose with <see cref="SetDose"/>.</summary>
        public static BrachyPlanSetup AddBrachyPlan(Course course, string id, StructureSet structureSet,
            string targetVolumeId, int fractions, double totalDoseGy, string approvalStatus, bool treated,
            double normalizationValue, double[] gridOrigin, double[] gridSpacing, int[] gridSize, double[] gridDirection)
        {
            BrachyPlanSetup plan = new BrachyPlanSetup(course, id, structureSet,
                Grid(gridOrigin, gridSpacing, gridSize, gridDirection));
            Configure(plan, targetVolumeId, fractions, totalDoseGy, approvalStatus, treated, normalizationValue);
            course._plans.Add(plan);
            return plan;
        }

        private static void Configure(PlanSetup plan, string targetVolumeId, int fractions, double totalDoseGy,
            string approvalStatus, bool treated, double normalizationValue)
        {
            plan._targetId = targetVolumeId ?? "";
            if (fractions > 0 && !double.IsNaN(totalDoseGy))
            {
                plan._fractions = fractions;
                plan._dosePerFractionGy = totalDoseGy / fractions;
            }
            plan._approval = (PlanSetupApprovalStatus)Enum.Parse(typeof(PlanSetupApprovalStatus), approvalStatus);
            plan._treated = treated;
            if (!double.IsNaN(normalizationValue))
            {
                plan._normValue = normalizationValue;
                plan._normMethod = PlanSetup.ValueNormalization;
            }
        }

        /// <summary>A beam; <paramref name="mlcId"/> null or empty for a beam without an MLC.</summary>
        public static Beam AddBeam(PlanSetup plan, string id, double gantryAngle, string technique, string mlcId)
        {
            Beam b = new Beam(plan, id, gantryAngle, technique, mlcId);
            plan._beams.Add(b);
            return b;
        }

        /// <summary>A calculated dose: TOTAL Gy, flat [z][y][x], on the given grid.</summary>
        public static void SetDose(PlanSetup plan, double[] origin, double[] spacing, int[] size, double[] direction,
            double[] valuesGy)
        {
            plan._doseData = DoseData.FromGy(Grid(origin, spacing, size, direction), valuesGy);
            plan._optimised = plan._doseData;
            plan._isEvaluationDose = false;
        }

        /// <summary>A plan sum in <paramref name="course"/> over <paramref name="plans"/> (any course of the
        /// patient), each with its operation ("Addition" / "Subtraction") and weight. No summed dose is
        /// built: reirrad never reads one (it reads each plan with its own fractionation).</summary>
        public static PlanSum AddPlanSum(Course course, string id, PlanSetup[] plans, string[] operations,
            double[] weights)
        {
            if (plans.Length != operations.Length || plans.Length != weights.Length)
            {
                throw new ArgumentException("plans, operations and weights must have the same length");
            }
            PlanSum sum = new PlanSum();
            sum._owner = course._owner;
            sum._id = id;
            sum._course = course;
            for (int n = 0; n < plans.Length; n++)
            {
                PlanSumComponent c = new PlanSumComponent();
                c._owner = course._owner;
                c._id = plans[n].Id;
                c._operation = (PlanSumOperation)Enum.Parse(typeof(PlanSumOperation), operations[n]);
                c._weight = weights[n];
                sum._components.Add(c);
                sum._planSetups.Add(plans[n]);
            }
            course._planSums.Add(sum);
            return sum;
        }

        /// <summary>m16: row-major 4×4 mapping points of sourceFor to registeredFor (column vectors).</summary>
        public static Registration AddRegistration(Patient patient, string id, string sourceFor, string registeredFor,
            double[] m16, string creationDateTime)
        {
            Registration r = new Registration(patient, id, sourceFor, registeredFor, m16, ParseDate(creationDateTime));
            patient._registrations.Add(r);
            return r;
        }
    }
}
