// reirrad's Eclipse Scripts-menu plug-in: starts ReirradHost.exe on the open patient, course and plan.
// Written for reirrad; not Varian code.
//
// A binary plug-in cannot host reirrad's Python itself and write (esapi.md §13.2): it starts the
// approvable stand-alone host, which opens the patient in its own ESAPI session. The plug-in reads the
// three IDs and returns at once; it writes nothing, so it needs no write approval. The host gets
// --pause (its console window, which closes when it exits, waits for Enter so that the run's outcome can
// be read) and an environment without the variables that would make its Python run other code, and with
// PYTHONNOUSERSITE=1 (no user site-packages).
using System;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using VMS.TPS.Common.Model.API;

[assembly: AssemblyTitle("Reirrad.Launcher.esapi")]
[assembly: AssemblyDescription("reirrad: Scripts-menu launcher for ReirradHost.exe")]
[assembly: AssemblyProduct("reirrad")]
[assembly: AssemblyVersion("0.5.0.0")]

namespace VMS.TPS
{
    public class Script
    {
        public Script()
        {
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public void Execute(ScriptContext context)
        {
            string directory = Path.GetDirectoryName(typeof(Script).Assembly.Location);
            Process.Start(Reirrad.Launcher.HostStart.For(context, directory));
        }
    }
}

namespace Reirrad.Launcher
{
    /// <summary>How the plug-in starts the host (public so that it can be checked without starting it).</summary>
    public static class HostStart
    {
        public const string HostFileName = "ReirradHost.exe";

        /// <summary>The variables ReirradHost.exe refuses (HostConfig.ForeignPythonVariables): removed from
        /// the host's environment (another program on the workstation may set them).</summary>
        public static readonly string[] ForeignPythonVariables =
        {
            "PYTHONHOME", "PYTHONPATH", "PYTHONUSERBASE", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__",
        };

        /// <summary>The start information for ReirradHost.exe in <paramref name="directory"/> on the
        /// context's patient, course and external-beam plan.</summary>
        /// <exception cref="InvalidOperationException">No patient, course or external-beam plan is
        /// open, or the host executable is missing (the message says what to do).</exception>
        public static ProcessStartInfo For(ScriptContext context, string directory)
        {
            if (context == null || context.Patient == null || context.Course == null || context.ExternalPlanSetup == null)
            {
                throw new InvalidOperationException("reirrad: open the patient and the NEW external-beam plan "
                    + "(in its course) before starting reirrad.");
            }
            string host = Path.Combine(directory, HostFileName);
            if (!File.Exists(host))
            {
                throw new InvalidOperationException("reirrad: " + host + " is missing; install ReirradHost.exe next "
                    + "to the plug-in (install/eclipse/README.md).");
            }
            ProcessStartInfo info = new ProcessStartInfo(host, Arguments(context.Patient.Id, context.Course.Id,
                context.ExternalPlanSetup.Id));
            info.UseShellExecute = false;   // the host is a console program: it gets its own console window
            info.WorkingDirectory = directory;
            foreach (string variable in ForeignPythonVariables)
            {
                info.EnvironmentVariables.Remove(variable);  // the host refuses to start with them set
            }
            info.EnvironmentVariables["PYTHONNOUSERSITE"] = "1";  // no user site-packages (the host checks)
            return info;
        }

        /// <summary>The host's command line for these IDs (and --pause: the console window stays open until
        /// Enter, showing the outcome).</summary>
        public static string Arguments(string patientId, string courseId, string planId)
        {
            return "--patient " + Quote(patientId) + " --course " + Quote(courseId) + " --plan " + Quote(planId)
                + " --pause";
        }

        /// <summary>One argument quoted for the Windows command-line parser (CommandLineToArgvW rules:
        /// backslashes are literal except before a quote; a quote is written as \").</summary>
        public static string Quote(string argument)
        {
            if (argument == null)
            {
                throw new ArgumentNullException("argument");
            }
            StringBuilder sb = new StringBuilder("\"");
            int backslashes = 0;
            foreach (char c in argument)
            {
                if (c == '\\')
                {
                    backslashes++;
                    continue;
                }
                if (c == '"')
                {
                    sb.Append('\\', 2 * backslashes + 1);
                }
                else
                {
                    sb.Append('\\', backslashes);
                }
                backslashes = 0;
                sb.Append(c);
            }
            sb.Append('\\', 2 * backslashes);
            sb.Append('"');
            return sb.ToString();
        }
    }
}
