using System;

// In Eclipse these live in VMS.TPS.Common.Model.Interface.dll; the stand-in ships two API assemblies
// only, so they are compiled into the API assembly under their real namespace (DEVIATIONS.md).
namespace VMS.TPS.Common.Model
{
    /// <summary>Thrown by a modifying member when the script may not modify data.</summary>
    public class UnauthorizedScriptingAPIAccessException : Exception
    {
        public UnauthorizedScriptingAPIAccessException(string message)
            : base(message)
        {
        }
    }

    /// <summary>A fatal TPS error (e.g. a second Application in one process).</summary>
    public class FatalTpsNetException : Exception
    {
        public FatalTpsNetException(string message)
            : base(message)
        {
        }
    }
}
