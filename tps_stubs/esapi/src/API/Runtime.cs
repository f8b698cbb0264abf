using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    /// <summary>Who is running: an Eclipse plug-in context, or a stand-alone Application.</summary>
    internal enum StubSession
    {
        None,
        Plugin,
        CustomScriptExecutable,
        StandaloneExecutable,
    }

    /// <summary>One recorded write.</summary>
    internal sealed class StubJournalRecord
    {
        internal int Sequence;
        internal string ObjectType;
        internal string ObjectId;
        internal string Member;
        internal string[] Arguments;
    }

    /// <summary>Process-wide state of the stand-in: system configuration, session, journal, hooks.
    /// Set through Reirrad.EsapiStubBuilder; nothing here is public.</summary>
    internal static class StubRuntime
    {
        internal const double RawCtOffset = 1024.0;
        internal const double EvaluationDoseScaleGy = 1e-5;
        internal const double RawDoseMaximum = 16777216.0; // 2^24 counts at the dose maximum

        /// <summary>true: a research / non-clinical system (every session may write).</summary>
        internal static bool ResearchMode;

        /// <summary>The clinic's configured dose unit (Gy or cGy).</summary>
        internal static DoseValue.DoseUnit SystemDoseUnit = DoseValue.DoseUnit.Gy;

        /// <summary>Whether the plug-in session is an approved, write-enabled script.</summary>
        internal static bool PluginWriteable = true;

        /// <summary>true: AddContourOnImagePlane unites a contour with the plane's segment; false
        /// (default): exclusive-or. Eclipse's behaviour is unconfirmed (DEVIATIONS.md).</summary>
        internal static bool ContourAddUnion;

        /// <summary>true (default): a structure set used by an approved or treated plan is locked, as if
        /// approved; false: only its own approval locks it. Eclipse's behaviour is unconfirmed
        /// (DEVIATIONS.md).</summary>
        internal static bool PlansLockStructureSets = true;

        internal static StubSession Session = StubSession.None;
        internal static bool ApplicationCreated;
        internal static Application CurrentApplication;
        internal static Func<string, Patient> PatientProvider;
        internal static string[] PatientIds = new string[0];
        internal static Func<ExternalPlanSetup, string, bool> DoseEngine;

        /// <summary>Fault injection (session state): how many of the next CalculateDose calls fail
        /// transiently (Success false, plan unchanged). Cleared with the session.</summary>
        internal static int DoseCalculationFailures;
        internal static readonly List<StubJournalRecord> Journal = new List<StubJournalRecord>();
        private static int _sequence;
        private static long _uidCounter;

        internal static string NewUid()
        {
            _uidCounter++;
            return "1.2.826.0.1.3680043.10.2222." + _uidCounter.ToString(CultureInfo.InvariantCulture);
        }

        internal static void Reset()
        {
            ApplicationCreated = false;
            CurrentApplication = null;
            Session = StubSession.None;
            Journal.Clear();
            _sequence = 0;
            DoseCalculationFailures = 0;
        }

        /// <summary>Whether the current session may use members with the clinical write guard.</summary>
        internal static bool SessionWriteable()
        {
            switch (Session)
            {
                case StubSession.Plugin:
                    return ResearchMode || PluginWriteable;
                case StubSession.CustomScriptExecutable:
                    return ResearchMode;
                case StubSession.StandaloneExecutable:
                    return ResearchMode || EntryAssemblyIsWriteable();
                default:
                    return false;
            }
        }

        private static bool EntryAssemblyIsWriteable()
        {
            Assembly entry = Assembly.GetEntryAssembly();
            if (entry == null)
            {
                return false;
            }
            object[] attrs = entry.GetCustomAttributes(typeof(ESAPIScriptAttribute), false);
            return attrs.Cast<ESAPIScriptAttribute>().Any(a => a.IsWriteable);
        }

        internal static void Record(ApiDataObject target, string member, params object[] args)
        {
            RecordRaw(target == null ? "Application" : target.GetType().Name, target == null ? "" : target.Id,
                member, args);
        }

        internal static void RecordRaw(string objectType, string objectId, string member, params object[] args)
        {
            _sequence++;
            Journal.Add(new StubJournalRecord
            {
                Sequence = _sequence,
                ObjectType = objectType,
                ObjectId = objectId ?? "",
                Member = member,
                Arguments = args.Select(FormatArgument).ToArray(),
            });
        }

        internal static string FormatArgument(object value)
        {
            if (value == null)
            {
                return "null";
            }
            ApiDataObject data = value as ApiDataObject;
            if (data != null)
            {
                return data.GetType().Name + " '" + data.Id + "'";
            }
            if (value is double)
            {
                return ((double)value).ToString("R", CultureInfo.InvariantCulture);
            }
            if (value is VVector)
            {
                VVector v = (VVector)value;
                return string.Format(CultureInfo.InvariantCulture, "({0:R}, {1:R}, {2:R})", v.x, v.y, v.z);
            }
            IFormattable formattable = value as IFormattable;
            if (formattable != null)
            {
                return formattable.ToString(null, CultureInfo.InvariantCulture);
            }
            return value.ToString();
        }

        /// <summary>Throws unless a modifying member may run now.</summary>
        /// <param name="target">the object modified</param>
        /// <param name="member">"Type.Member" for the message</param>
        /// <param name="clinical">false for members that have the non-clinical (research-only) guard in 15.6</param>
        internal static void Guard(ApiDataObject target, string member, bool clinical)
        {
            string prefix = "ESAPI method or property: " + member + ". ";
            if (!SessionWriteable())
            {
                throw new UnauthorizedScriptingAPIAccessException(prefix + DescribeReadOnlySession());
            }
            if (!clinical && !ResearchMode)
            {
                throw new UnauthorizedScriptingAPIAccessException(prefix +
                    "This member may modify data only on a non-clinical (research) system.");
            }
            Patient patient = target == null ? null : target.OwnerPatient;
            if (patient == null)
            {
                throw new UnauthorizedScriptingAPIAccessException(prefix + "No open patient.");
            }
            if (patient.IsClosed)
            {
                throw new UnauthorizedScriptingAPIAccessException(prefix + "The patient has been closed.");
            }
            if (!patient.ModificationsBegun)
            {
                throw new UnauthorizedScriptingAPIAccessException(prefix +
                    "Call Patient.BeginModifications() before modifying data.");
            }
            string locked = target.LockReason();
            if (locked != null)
            {
                throw new UnauthorizedScriptingAPIAccessException(prefix + locked);
            }
            patient.MarkModified();
        }

        private static string DescribeReadOnlySession()
        {
            switch (Session)
            {
                case StubSession.Plugin:
                    return "The script is not an approved write-enabled script (read-only context).";
                case StubSession.CustomScriptExecutable:
                    return "Scripts run with CustomScriptExecutable are read-only in a clinical environment.";
                case StubSession.StandaloneExecutable:
                    return "The executable is not write-enabled ([assembly: ESAPIScript(IsWriteable = true)]) " +
                           "or not approved for this clinical system.";
                default:
                    return "No script session.";
            }
        }

        internal static double UnitFactorFromGy(DoseValue.DoseUnit unit)
        {
            switch (unit)
            {
                case DoseValue.DoseUnit.Gy: return 1.0;
                case DoseValue.DoseUnit.cGy: return 100.0;
                default: throw new ArgumentException("Not an absolute dose unit: " + unit);
            }
        }

        /// <summary>A dose in Gy expressed in the system unit.</summary>
        internal static DoseValue FromGy(double gy)
        {
            return new DoseValue(gy * UnitFactorFromGy(SystemDoseUnit), SystemDoseUnit);
        }

        /// <summary>An absolute dose in the SYSTEM unit, to Gy; anything else is an ArgumentException.</summary>
        internal static double SystemUnitToGy(DoseValue value, string parameter)
        {
            if (value.Unit != SystemDoseUnit)
            {
                throw new ArgumentException(string.Format(CultureInfo.InvariantCulture,
                    "{0}: the unit must be the same as defined in the system configuration ({1}); got {2}.",
                    parameter, DoseValue.UnitName(SystemDoseUnit), value), parameter);
            }
            if (double.IsNaN(value.Dose) || double.IsInfinity(value.Dose))
            {
                throw new ArgumentException(parameter + ": the dose must be a finite number.", parameter);
            }
            return value.Dose / UnitFactorFromGy(SystemDoseUnit);
        }

        internal static IEnumerable<T> Seq<T>(IEnumerable<T> source)
        {
            T[] snapshot = source.ToArray();
            foreach (T item in snapshot)
            {
                yield return item;
            }
        }
    }
}
