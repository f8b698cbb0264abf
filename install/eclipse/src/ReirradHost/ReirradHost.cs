// reirrad's Eclipse host executable: owns the ESAPI session and runs reirrad's Python workflow inside
// this process (pythonnet's Python.Runtime). Written for reirrad; not Varian code.
//
//   ReirradHost.exe --patient ID --course ID --plan ID --intent isotoxic [--no-dialog] [--json PATH] ...
//
// The arguments are parsed by Python (reirrad_tps.eclipse.host.begin: one definition of the command
// line), all but --pause, the host's own: wait for Enter before exiting, on every exit path (the
// Scripts-menu launcher passes it: the console window it opens closes when the host exits, and with it
// the run's outcome). ReirradHost.ini's optional answers key names the department's answers file for
// every run (its report_dir and audit_csv make menu runs leave a report and an audit row); Python reads
// a command line's --answers over it. This file does only what must be done by the approved executable itself:
//   Application.CreateApplication() on the STA thread, OpenPatientById, BeginModifications (unless
//   --dry-run), hand the live objects to Python, and SaveModifications ONLY when Python reports ok:
//   a plan to keep (planned, or kept for review) whose result JSON, report and audit row Python has
//   already rendered and staged (host.run); host.finish commits them after the save, or discards them
//   when the save failed. After any failure nothing is saved: the Application is disposed with the
//   modifications unsaved. Every failure is one console line and an exit code, never an unhandled
//   exception.
//
// Exit codes (Python's reirrad.statuses): 0 planned / dry run; 3 plan kept but needs review
// (coverage-compromised, final-check-failed, infeasible); 2 bad input, a stop, cancelled;
// 1 internal failure, outputs not written or SaveModifications refused; 4 the host could not start Python.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Python.Runtime;
using VMS.TPS.Common.Model.API;

namespace Reirrad.EclipseHost
{
    /// <summary>Where the Python that runs reirrad is. Read from ReirradHost.ini next to the executable,
    /// and only from there: the approval covers the executable, and the INI file, the Python it names
    /// and that environment are part of the approved configuration (install/eclipse/README.md). No
    /// environment variable overrides it, and the variables that would make Python run other code
    /// (<see cref="ForeignPythonVariables"/>) are refused.</summary>
    public sealed class HostConfig
    {
        public const string FileName = "ReirradHost.ini";

        /// <summary>The Python shared library (python311.dll on Windows, libpython3.11.so on Linux).</summary>
        public string PythonDll { get; private set; }

        /// <summary>The python executable of the environment that has reirrad installed (a venv's
        /// python.exe): Python derives sys.path (and the venv's site-packages) from it. Optional.</summary>
        public string PythonExecutable { get; private set; }

        /// <summary>The department's answers file for every run (YAML/JSON, reirrad_tps.answers: e.g.
        /// report_dir, where each run writes a report of its own, and audit_csv); a --answers file on the
        /// command line is read over it. A full path (a relative one is taken from the INI's folder).
        /// Optional: without it a run from the Scripts menu writes no report and no audit row.</summary>
        public string Answers { get; private set; }

        /// <summary>Variables that change which code the embedded Python runs (another standard library,
        /// other import paths, another user site, another executable and so another venv): refused when
        /// set, since Python reads them at start.</summary>
        public static readonly string[] ForeignPythonVariables =
        {
            "PYTHONHOME", "PYTHONPATH", "PYTHONUSERBASE", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__",
        };

        public static HostConfig Load(string directory)
        {
            Dictionary<string, string> values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            string path = Path.Combine(directory, FileName);
            if (File.Exists(path))
            {
                int lineNumber = 0;
                foreach (string raw in File.ReadAllLines(path))
                {
                    lineNumber++;
                    string line = raw.Trim();
                    if (line.Length == 0 || line.StartsWith("#", StringComparison.Ordinal) || line.StartsWith(";", StringComparison.Ordinal))
                    {
                        continue;
                    }
                    int eq = line.IndexOf('=');
                    if (eq <= 0)
                    {
                        throw new HostConfigException(string.Format(CultureInfo.InvariantCulture,
                            "{0}, line {1}: expected 'key = value', got '{2}'", path, lineNumber, line));
                    }
                    string key = line.Substring(0, eq).Trim();
                    if (key != "python_dll" && key != "python_executable" && key != "answers")
                    {
                        throw new HostConfigException(string.Format(CultureInfo.InvariantCulture,
                            "{0}, line {1}: unknown key '{2}' (the keys are python_dll, python_executable and "
                            + "answers)", path, lineNumber, key));
                    }
                    if (values.ContainsKey(key))
                    {
                        throw new HostConfigException(string.Format(CultureInfo.InvariantCulture,
                            "{0}, line {1}: '{2}' is given twice; give it once (which value was meant is not "
                            + "known)", path, lineNumber, key));
                    }
                    values[key] = line.Substring(eq + 1).Trim();
                }
            }
            foreach (string variable in ForeignPythonVariables)
            {
                if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable)))
                {
                    throw new HostConfigException("the environment variable " + variable + " is set: it would make "
                        + "the approved host run Python code other than the environment " + path + " names. "
                        + "Unset it for ReirradHost.exe (the Scripts-menu launcher removes it).");
                }
            }
            HostConfig config = new HostConfig();
            config.PythonDll = Value(values, "python_dll");
            config.PythonExecutable = Value(values, "python_executable");
            config.Answers = Value(values, "answers");
            if (config.Answers != null)
            {
                if (config.Answers.Length == 0)
                {
                    throw new HostConfigException("answers is empty in " + path + ": give the answers file's path, "
                        + "or remove the line (runs then write no report and no audit row unless asked).");
                }
                // a relative path is the INI's folder's, whatever folder the host was started from
                try
                {
                    config.Answers = Path.GetFullPath(Path.Combine(directory, config.Answers));
                }
                catch (Exception e) when (e is ArgumentException || e is NotSupportedException
                                          || e is PathTooLongException)
                {
                    throw new HostConfigException("answers '" + config.Answers + "' in " + path + " is not a usable "
                        + "path (" + e.Message + "); give the file's full path, without quotes.");
                }
            }
            if (string.IsNullOrEmpty(config.PythonDll))
            {
                throw new HostConfigException("The Python library is not configured: set python_dll in " + path
                    + " (e.g. python_dll = C:\\reirrad\\python\\python311.dll).");
            }
            if (!File.Exists(config.PythonDll))
            {
                throw new HostConfigException("python_dll '" + config.PythonDll + "' does not exist; fix " + path + ".");
            }
            if (!string.IsNullOrEmpty(config.PythonExecutable) && !File.Exists(config.PythonExecutable))
            {
                throw new HostConfigException("python_executable '" + config.PythonExecutable + "' does not exist; fix "
                    + path + ".");
            }
            if (config.Answers != null && !File.Exists(config.Answers))
            {
                throw new HostConfigException("answers '" + config.Answers + "' does not exist; fix " + path
                    + " (or remove the line: runs then write no report and no audit row unless asked).");
            }
            return config;
        }

        private static string Value(Dictionary<string, string> values, string key)
        {
            string value;
            return values.TryGetValue(key, out value) ? value : null;
        }

        /// <summary>The venv of <see cref="PythonExecutable"/> as Python's site.venv() takes it: the parent of
        /// the executable's folder (e.g. C:\reirrad\venv for C:\reirrad\venv\Scripts\python.exe) when a
        /// pyvenv.cfg lies in the executable's folder or in that parent; null when it is not a venv's.</summary>
        public string VenvDirectory()
        {
            if (string.IsNullOrEmpty(PythonExecutable))
            {
                return null;
            }
            string folder = Path.GetDirectoryName(Path.GetFullPath(PythonExecutable));
            string parent = Path.GetDirectoryName(folder);
            if (string.IsNullOrEmpty(parent))
            {
                return null;
            }
            bool venv = File.Exists(Path.Combine(folder, "pyvenv.cfg")) || File.Exists(Path.Combine(parent, "pyvenv.cfg"));
            return venv ? parent : null;
        }
    }

    public sealed class HostConfigException : Exception
    {
        public HostConfigException(string message) : base(message)
        {
        }
    }

    public static class Program
    {
        private const int ExitFailed = 1;
        private const int ExitNoPython = 4;

        [STAThread]
        public static int Main(string[] args)
        {
            bool pause = Array.IndexOf(args, "--pause") >= 0;
            int code = ExitFailed;
            try
            {
                code = Run(Array.FindAll(args, a => a != "--pause"));
            }
            catch (Exception e)
            {
                // outside every boundary below (e.g. the INI file unreadable): one line, never a crash that
                // would close the launcher's console before it can be read
                Console.Error.WriteLine("reirrad: internal error: " + OneLine(e));
            }
            finally
            {
                if (pause)
                {
                    Console.WriteLine("reirrad finished (exit code " + code.ToString(CultureInfo.InvariantCulture)
                        + "). Press Enter to close this window.");
                    Console.ReadLine();
                }
            }
            return code;
        }

        private static int Run(string[] args)
        {
            HostConfig config;
            try
            {
                config = HostConfig.Load(AppDomain.CurrentDomain.BaseDirectory);
            }
            catch (HostConfigException e)
            {
                Console.Error.WriteLine("reirrad: " + e.Message);
                return ExitNoPython;
            }
            try
            {
                Runtime.PythonDLL = config.PythonDll;
                if (!string.IsNullOrEmpty(config.PythonExecutable))
                {
                    PythonEngine.ProgramName = config.PythonExecutable;
                }
                PythonEngine.Initialize();
            }
            catch (Exception e)
            {
                Console.Error.WriteLine("reirrad: Python could not be started from '" + config.PythonDll + "': "
                    + e.Message);
                return ExitNoPython;
            }
            using (Py.GIL())
            {
                string wrong = VenvNotInEffect(config) ?? UserSiteInEffect();
                if (wrong != null)
                {
                    Console.Error.WriteLine("reirrad: " + wrong);
                    return ExitNoPython;
                }
                PyObject host;
                try
                {
                    host = Py.Import("reirrad_tps.eclipse.host");
                }
                catch (PythonException e)
                {
                    Console.Error.WriteLine("reirrad: the reirrad Python package could not be imported ("
                        + e.Message + "). Install it into the environment of python_executable.");
                    return ExitNoPython;
                }
                try
                {
                    return RunSession(host, args, config.Answers);
                }
                catch (Exception e)
                {
                    // Python failed outside its own boundary (begin or finish): one line, never an
                    // unhandled exception; nothing was saved unless finish said so before failing.
                    Console.Error.WriteLine("reirrad: internal error: " + OneLine(e));
                    return ExitFailed;
                }
            }
        }

        /// <summary>Why the venv that python_executable names is not the environment Python runs in (its
        /// sys.prefix), or null when it is (or no venv is configured). CPython 3.8-3.10 embedded in another
        /// executable derive the environment from that executable, not from the program name the host sets
        /// (their getpath), so the venv's packages would be missing or the base installation's used.</summary>
        private static string VenvNotInEffect(HostConfig config)
        {
            string venv = config.VenvDirectory();
            if (venv == null)
            {
                return null;
            }
            string prefix;
            string version;
            using (PyObject sys = Py.Import("sys"))
            {
                prefix = sys.GetAttr("prefix").As<string>();
                version = sys.GetAttr("version").As<string>().Split(' ')[0];
            }
            return VenvMismatch(venv, prefix, version);
        }

        /// <summary>Why the user's own site-packages is on sys.path (code outside the approved
        /// configuration, run at start through its .pth files), or null when it is not: a Python without a
        /// venv has it unless PYTHONNOUSERSITE is set, which the launcher does.</summary>
        private static string UserSiteInEffect()
        {
            using (PyObject site = Py.Import("site"))
            using (PyObject sys = Py.Import("sys"))
            {
                if (!site.GetAttr("ENABLE_USER_SITE").IsTrue())
                {
                    return null;
                }
                string userSite = site.GetAttr("USER_SITE").As<string>();
                using (PyObject path = sys.GetAttr("path"))
                {
                    if (!path.InvokeMethod("__contains__", new PyString(userSite)).IsTrue())
                    {
                        return null;
                    }
                }
                return "the user's site-packages " + userSite + " is on Python's path: code there would run in "
                    + "the approved host. Set PYTHONNOUSERSITE=1 for ReirradHost.exe (the Scripts-menu launcher "
                    + "does) or use a venv (install/eclipse/README.md).";
            }
        }

        /// <summary>Why Python (<paramref name="version"/>, its sys.prefix <paramref name="prefix"/>) did not
        /// start in the venv <paramref name="venv"/>, or null when it did (the same folder, case and a
        /// trailing separator aside).</summary>
        public static string VenvMismatch(string venv, string prefix, string version)
        {
            if (string.Equals(Path.GetFullPath(prefix).TrimEnd(Path.DirectorySeparatorChar),
                              Path.GetFullPath(venv).TrimEnd(Path.DirectorySeparatorChar),
                              StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }
            return "Python " + version + " did not start in the environment " + venv + " that python_executable names "
                + "(its sys.prefix is " + prefix + "). Embedded CPython 3.8-3.10 ignore python_executable: use "
                + "CPython 3.11 or later for a venv, or leave python_executable out and install reirrad into "
                + "the Python that python_dll belongs to (install/eclipse/README.md).";
        }

        /// <summary>The first line of an exception's message (a Python exception carries its traceback
        /// in the message; the console gets one line).</summary>
        private static string OneLine(Exception e)
        {
            string message = e.Message ?? e.GetType().Name;
            int end = message.IndexOfAny(new[] { '\r', '\n' });
            return end < 0 ? message : message.Substring(0, end);
        }

        /// <summary>One ESAPI session. Saves only when Python reports ok (a plan to keep, its outputs
        /// staged by host.run); finish commits the outputs after the save, or discards them.
        /// <paramref name="answers"/>: the INI's answers file (null: none), for host.begin.</summary>
        private static int RunSession(PyObject host, string[] args, string answers)
        {
            PyObject request = host.InvokeMethod("begin", ToPythonList(args),
                answers == null ? PyObject.None : new PyString(answers));
            PyObject stop = request.GetAttr("stop_code");
            if (!stop.IsNone())
            {
                return stop.As<int>();
            }
            string patientId = request.GetAttr("patient_id").As<string>();
            bool writes = request.GetAttr("writes").IsTrue();
            using (Application app = Application.CreateApplication())
            {
                Patient patient = null;
                PyObject outcome;
                try
                {
                    patient = app.OpenPatientById(patientId);
                    if (patient != null && writes)
                    {
                        patient.BeginModifications();
                    }
                    outcome = host.InvokeMethod("run", request, app.ToPython(),
                        patient == null ? PyObject.None : patient.ToPython());
                }
                catch (Exception e)
                {
                    // ESAPI refused to open or to begin modifications, or Python failed outside its own
                    // boundary: nothing has been saved, and nothing will be.
                    Console.Error.WriteLine("reirrad: " + OneLine(e));
                    outcome = host.InvokeMethod("failed", request, new PyString(OneLine(e)));
                }
                bool saved = false;
                PyObject saveError = PyObject.None;
                if (outcome.GetAttr("ok").IsTrue() && writes)
                {
                    try
                    {
                        app.SaveModifications();
                        saved = true;
                    }
                    catch (Exception e)
                    {
                        saveError = new PyString(OneLine(e));
                    }
                }
                int code = host.InvokeMethod("finish", request, outcome, saved.ToPython(), saveError).As<int>();
                if (patient != null)
                {
                    app.ClosePatient();
                }
                return code;
            }
        }

        private static PyList ToPythonList(string[] args)
        {
            PyList list = new PyList();
            foreach (string arg in args)
            {
                list.Append(new PyString(arg));
            }
            return list;
        }
    }
}
