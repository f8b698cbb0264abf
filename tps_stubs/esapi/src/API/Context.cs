using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;

namespace VMS.TPS.Common.Model.API
{
    /// <summary>What a plug-in context points at (passed as the "context" object of the public ctor).</summary>
    internal sealed class StubContextData
    {
        internal Patient Patient;
        internal Course Course;
        internal PlanSetup PlanSetup;
    }

    public sealed class ScriptContext
    {
        private readonly StubContextData _data;
        private readonly string _appName;

        /// <summary>As in 13.6-15.6. The stand-in accepts only the context objects its builder makes.</summary>
        public ScriptContext(object context, object user, string appName)
        {
            _data = context as StubContextData;
            if (_data == null)
            {
                throw new ArgumentException("The stand-in ScriptContext is created by Reirrad.EsapiStubBuilder.", "context");
            }
            _appName = appName ?? "";
        }

        public Patient Patient { get { return _data.Patient; } }

        public Course Course { get { return _data.Course; } }

        public PlanSetup PlanSetup { get { return _data.PlanSetup; } }

        public ExternalPlanSetup ExternalPlanSetup { get { return _data.PlanSetup as ExternalPlanSetup; } }

        public BrachyPlanSetup BrachyPlanSetup { get { return _data.PlanSetup as BrachyPlanSetup; } }

        public User CurrentUser { get { return User.Current; } }

        public StructureSet StructureSet { get { return _data.PlanSetup == null ? null : _data.PlanSetup._structureSet; } }

        public Image Image { get { return StructureSet == null ? null : StructureSet._image; } }

        /// <summary>The plans of the open course (the Scope window).</summary>
        public IEnumerable<PlanSetup> PlansInScope
        {
            get { return StubRuntime.Seq(_data.Course == null ? new List<PlanSetup>() : _data.Course._plans); }
        }

        public IEnumerable<ExternalPlanSetup> ExternalPlansInScope
        {
            get { return StubRuntime.Seq(PlansInScope.OfType<ExternalPlanSetup>()); }
        }

        public IEnumerable<BrachyPlanSetup> BrachyPlansInScope
        {
            get { return StubRuntime.Seq(PlansInScope.OfType<BrachyPlanSetup>()); }
        }

        public IEnumerable<PlanSum> PlanSumsInScope
        {
            get { return StubRuntime.Seq(_data.Course == null ? new List<PlanSum>() : _data.Course._planSums); }
        }

        public string ApplicationName { get { return _appName; } }

        public string VersionInfo { get { return "15.6.03.25 (reirrad ESAPI stand-in)"; } }
    }

    /// <summary>The logged-in user (Id, Name, Language as public scripts read them; values are the
    /// stand-in's).</summary>
    public class User : SerializableObject
    {
        internal static readonly User Current = new User();

        internal User()
        {
        }

        public string Id { get { return "reirrad-stub"; } }

        public string Name { get { return "reirrad stub user"; } }

        public string Language { get { return "ENU"; } }
    }

    [AttributeUsage(AttributeTargets.Assembly, Inherited = false)]
    public class ESAPIScriptAttribute : Attribute
    {
        public ESAPIScriptAttribute()
        {
        }

        public bool IsWriteable { get; set; }
    }

    public class Application : SerializableObject, IDisposable
    {
        private readonly string _scriptName;
        private Patient _patient;
        private bool _disposed;

        private Application(string scriptName)
        {
            _scriptName = scriptName;
        }

        private static Application Create(string scriptName, StubSession session)
        {
            if (StubRuntime.ApplicationCreated)
            {
                throw new FatalTpsNetException(
                    "TPS.NET ApplicationNonAppFrame: Only one Application object is supported at a time.");
            }
            StubRuntime.ApplicationCreated = true;
            StubRuntime.Session = session;
            Application app = new Application(scriptName);
            StubRuntime.CurrentApplication = app;
            return app;
        }

        internal static Application CreateCustom(string scriptName)
        {
            if (string.IsNullOrEmpty(scriptName))
            {
                throw new ArgumentException("A script name is required (preferably the full path).", "scriptName");
            }
            return Create(scriptName, StubSession.CustomScriptExecutable);
        }

        [Obsolete("Eclipse Scripting API Application executes using the currently logged in Windows user credentials. The given username and password are ignored.")]
        public static Application CreateApplication(string username, string password)
        {
            return CreateApplication();
        }

        /// <summary>Needs a managed (.NET) entry assembly; python.exe has none
        /// (use CustomScriptExecutable.CreateApplication).</summary>
        public static Application CreateApplication()
        {
            Assembly entry = Assembly.GetEntryAssembly();
            if (entry == null)
            {
                throw new FatalTpsNetException("This method must be called from executable that has managed (.NET) entry point.");
            }
            return Create(entry.GetName().Name, StubSession.StandaloneExecutable);
        }

        private void RequireLive()
        {
            if (_disposed)
            {
                throw new ObjectDisposedException("Application", "The application has been disposed.");
            }
        }

        public User CurrentUser { get { return User.Current; } }

        public IEnumerable<PatientSummary> PatientSummaries
        {
            get
            {
                RequireLive();
                return StubRuntime.Seq(StubRuntime.PatientIds.Select(id => new PatientSummary(id)));
            }
        }

        public Patient OpenPatient(PatientSummary patientSummary)
        {
            if (patientSummary == null)
            {
                throw new ArgumentNullException("patientSummary");
            }
            return OpenPatientById(patientSummary.Id);
        }

        /// <summary>null when no patient has this id.</summary>
        public Patient OpenPatientById(string id)
        {
            RequireLive();
            if (_patient != null)
            {
                throw new InvalidOperationException("Only one patient can be open at a time. Close the previous one.");
            }
            if (StubRuntime.PatientProvider == null)
            {
                throw new InvalidOperationException("No stand-in patient database is registered (StubSystem.PatientProvider).");
            }
            _patient = StubRuntime.PatientProvider(id);
            return _patient;
        }

        public void ClosePatient()
        {
            RequireLive();
            if (_patient != null)
            {
                _patient.IsClosed = true;
                _patient = null;
            }
        }

        public void SaveModifications()
        {
            RequireLive();
            if (!StubRuntime.SessionWriteable())
            {
                throw new UnauthorizedScriptingAPIAccessException(
                    "ESAPI method or property: Application.SaveModifications. "
                    + "The script has modified data but is not allowed to do modifications.");
            }
            if (_patient == null)
            {
                throw new InvalidOperationException("No patient is open.");
            }
            foreach (PlanSetup plan in _patient._courses.SelectMany(c => c._plans))
            {
                if (plan._isEvaluationDose && !plan._evaluationVoxelsSet)
                {
                    throw new InvalidOperationException("Saving modifications to the database is not possible if the "
                        + "evaluation dose has been created but voxels have not been set (plan '" + plan.Id + "').");
                }
            }
            StubRuntime.RecordRaw("Application", _scriptName, "SaveModifications");
        }

        public void Dispose()
        {
            if (!_disposed)
            {
                if (_patient != null)
                {
                    _patient.IsClosed = true;
                    _patient = null;
                }
                _disposed = true;
            }
        }
    }

    public static class CustomScriptExecutable
    {
        /// <summary>Read-only on a clinical system, writable on a non-clinical (research) one.</summary>
        public static Application CreateApplication(string scriptName)
        {
            return Application.CreateCustom(scriptName);
        }
    }
}
