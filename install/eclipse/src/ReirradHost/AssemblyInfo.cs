// reirrad's Eclipse host executable. Written for reirrad; not Varian code.
using System.Reflection;
using VMS.TPS.Common.Model.API;

[assembly: AssemblyTitle("ReirradHost")]
[assembly: AssemblyDescription("reirrad: pelvic SABR re-irradiation planning - ESAPI stand-alone host embedding Python")]
[assembly: AssemblyProduct("reirrad")]
[assembly: AssemblyVersion("0.5.0.0")]

// Write-enabled stand-alone executable (esapi.md §3.2, 15.0+). On a clinical system it must be
// registered and approved in Tools > Script Approvals before it may write (install/eclipse/README.md).
[assembly: ESAPIScript(IsWriteable = true)]
