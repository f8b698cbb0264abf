using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    public class Course : ApiDataObject
    {
        internal readonly List<PlanSetup> _plans = new List<PlanSetup>();
        internal readonly List<PlanSum> _planSums = new List<PlanSum>();
        internal DateTime? _start;
        internal DateTime? _completed;
        internal string _intent = "";

        internal Course(Patient patient, string id, DateTime? start, DateTime? completed)
        {
            _owner = patient;
            _id = id;
            _start = start;
            _completed = completed;
        }

        /// <summary>A course with a completion date is closed to new or changed plans.</summary>
        internal override string LockReason()
        {
            return _completed.HasValue ? "Course '" + _id + "' is completed." : null;
        }

        public DateTime? CompletedDateTime { get { return _completed; } }

        public string Intent { get { return _intent; } }

        public Patient Patient { get { return _owner; } }

        public IEnumerable<PlanSum> PlanSums { get { return StubRuntime.Seq(_planSums); } }

        public DateTime? StartDateTime { get { return _start; } }

        public new string Id
        {
            get { return _id; }
            set
            {
                Guard("Id");
                RequireId(value, "Course");
                if (_owner._courses.Any(c => c != this && c._id == value))
                {
                    throw new ArgumentException("A course with id '" + value + "' already exists.");
                }
                _id = value;
                Record("set_Id", value);
            }
        }

        public IEnumerable<PlanSetup> PlanSetups { get { return StubRuntime.Seq(_plans); } }

        public IEnumerable<ExternalPlanSetup> ExternalPlanSetups
        {
            get { return StubRuntime.Seq(_plans.OfType<ExternalPlanSetup>()); }
        }

        public IEnumerable<BrachyPlanSetup> BrachyPlanSetups
        {
            get { return StubRuntime.Seq(_plans.OfType<BrachyPlanSetup>()); }
        }

        /// <summary>A copy of an external-beam plan of this patient in this course, on the source's structure
        /// set: prescription, target, beams, calculation models and optimisation objectives are copied; the
        /// copy is unapproved, untreated, without dose or normalisation. Id: the source's, else the first free
        /// "id_n" (assumption). Brachytherapy plans are refused (18.1 has CopyBrachyPlanSetup).</summary>
        public PlanSetup CopyPlanSetup(PlanSetup sourcePlan)
        {
            Guard("CopyPlanSetup");
            PlanSetup copy = Copy(sourcePlan, sourcePlan == null ? null : sourcePlan._structureSet, null);
            Record("CopyPlanSetup", sourcePlan);
            return copy;
        }

        /// <summary>As <see cref="CopyPlanSetup(PlanSetup)"/>, onto <paramref name="structureset"/>, which must
        /// be on the source plan's image (the stand-in copies no plan across images): the target and each
        /// objective follow their structure by id; what has no structure of that id in the new set is left
        /// out and named in <paramref name="outputDiagnostics"/> (one line each; may be null).</summary>
        public PlanSetup CopyPlanSetup(PlanSetup sourcePlan, StructureSet structureset,
            System.Text.StringBuilder outputDiagnostics)
        {
            Guard("CopyPlanSetup");
            if (structureset == null)
            {
                throw new ArgumentNullException("structureset");
            }
            if (!_owner._structureSets.Contains(structureset))
            {
                throw new ArgumentException("The structure set does not belong to this patient.", "structureset");
            }
            if (sourcePlan != null && sourcePlan._structureSet != null
                && structureset._image != sourcePlan._structureSet._image)
            {
                throw new ArgumentException("The structure set must be on the source plan's image ('"
                    + sourcePlan._structureSet._image._id + "').", "structureset");
            }
            PlanSetup copy = Copy(sourcePlan, structureset, outputDiagnostics);
            Record("CopyPlanSetup", sourcePlan, structureset);
            return copy;
        }

        private PlanSetup Copy(PlanSetup sourcePlan, StructureSet structureSet, System.Text.StringBuilder diagnostics)
        {
            if (sourcePlan == null)
            {
                throw new ArgumentNullException("sourcePlan");
            }
            if (sourcePlan._owner != _owner)
            {
                throw new ArgumentException("The plan belongs to another patient.", "sourcePlan");
            }
            if (!(sourcePlan is ExternalPlanSetup))
            {
                throw new InvalidOperationException("Only external beam plans can be copied with CopyPlanSetup "
                    + "(plan '" + sourcePlan._id + "' is " + sourcePlan.GetType().Name + ").");
            }
            ExternalPlanSetup copy = new ExternalPlanSetup(this, FreePlanId(sourcePlan._id), structureSet,
                sourcePlan._grid);
            Func<string, Structure> find = id => structureSet._structures.FirstOrDefault(s => s._id == id);
            copy._targetId = sourcePlan._targetId;
            if (copy._targetId.Length > 0 && find(copy._targetId) == null)
            {
                Diagnose(diagnostics, "Target volume '" + copy._targetId + "' is not in structure set '"
                    + structureSet._id + "'; the copy has no target.");
                copy._targetId = "";
            }
            copy._fractions = sourcePlan._fractions;
            copy._dosePerFractionGy = sourcePlan._dosePerFractionGy;
            copy._treatmentPercentage = sourcePlan._treatmentPercentage;
            foreach (KeyValuePair<CalculationType, string> model in sourcePlan._models)
            {
                copy._models[model.Key] = model.Value;
            }
            foreach (Beam b in sourcePlan._beams)
            {
                Beam beam = new Beam(copy, b._id, b._gantry, b._technique, b._mlc == null ? null : b._mlc._id);
                beam._direction = b._direction;
                copy._beams.Add(beam);
            }
            foreach (OptimizationObjective o in sourcePlan._optimizationSetup._objectives)
            {
                Structure target = find(o._structure._id);
                if (target == null)
                {
                    Diagnose(diagnostics, "Optimization objective for structure '" + o._structure._id
                        + "' not copied: the structure is not in structure set '" + structureSet._id + "'.");
                    continue;
                }
                copy._optimizationSetup._objectives.Add(target == o._structure ? o : o.On(target));
            }
            _plans.Add(copy);
            return copy;
        }

        private static void Diagnose(System.Text.StringBuilder diagnostics, string line)
        {
            if (diagnostics != null)
            {
                diagnostics.AppendLine(line);
            }
        }

        private string FreePlanId(string stem)
        {
            if (!_plans.Any(p => p._id == stem))
            {
                return stem;
            }
            for (int n = 1; ; n++)
            {
                string suffix = "_" + n.ToString(CultureInfo.InvariantCulture);
                string head = stem.Length + suffix.Length > 16 ? stem.Substring(0, 16 - suffix.Length) : stem;
                if (!_plans.Any(p => p._id == head + suffix))
                {
                    return head + suffix;
                }
            }
        }

        public bool CanAddPlanSetup(StructureSet structureSet)
        {
            return _owner.CanModifyData() && _owner.ModificationsBegun && LockReason() == null
                && structureSet != null && _owner._structureSets.Contains(structureSet);
        }

        public ExternalPlanSetup AddExternalPlanSetup(StructureSet structureSet)
        {
            Guard("AddExternalPlanSetup");
            ExternalPlanSetup plan = NewPlan(structureSet);
            Record("AddExternalPlanSetup", structureSet);
            return plan;
        }

        public ExternalPlanSetup AddExternalPlanSetupAsVerificationPlan(StructureSet structureSet,
            ExternalPlanSetup verifiedPlan)
        {
            Guard("AddExternalPlanSetupAsVerificationPlan");
            if (verifiedPlan == null)
            {
                throw new ArgumentNullException("verifiedPlan");
            }
            ExternalPlanSetup plan = NewPlan(structureSet);
            plan._verifiedPlan = verifiedPlan;
            Record("AddExternalPlanSetupAsVerificationPlan", structureSet, verifiedPlan);
            return plan;
        }

        private ExternalPlanSetup NewPlan(StructureSet structureSet)
        {
            if (structureSet == null || !_owner._structureSets.Contains(structureSet))
            {
                throw new ArgumentException("The structure set does not belong to this patient.", "structureSet");
            }
            int n = 1;
            while (_plans.Any(p => p._id == "Plan" + n.ToString(CultureInfo.InvariantCulture)))
            {
                n++;
            }
            ExternalPlanSetup plan = new ExternalPlanSetup(this, "Plan" + n.ToString(CultureInfo.InvariantCulture),
                structureSet, DoseGrid.DefaultFor(structureSet.Image));
            _plans.Add(plan);
            return plan;
        }

        public bool CanRemovePlanSetup(PlanSetup planSetup)
        {
            return StubRuntime.ResearchMode && _owner.CanModifyData() && _owner.ModificationsBegun
                && planSetup != null && _plans.Contains(planSetup) && planSetup.LockReason() == null;
        }

        /// <summary>Research-only in 15.1-15.6 (non-clinical guard).</summary>
        public void RemovePlanSetup(PlanSetup planSetup)
        {
            Guard("RemovePlanSetup", clinical: false);
            if (planSetup == null || !_plans.Contains(planSetup))
            {
                throw new ArgumentException("The plan does not belong to this course.", "planSetup");
            }
            string locked = planSetup.LockReason();
            if (locked != null)
            {
                throw new InvalidOperationException(locked);
            }
            _plans.Remove(planSetup);
            Record("RemovePlanSetup", planSetup);
        }
    }
}
