// Stand-in for Varian's VMS.TPS.Common.Model.Types (Eclipse 15.6), written from the signatures in
// shared/reference/esapi-members.md. Not Varian code. See tps_stubs/esapi/DEVIATIONS.md.
using System.Reflection;
using System.Runtime.CompilerServices;

[assembly: AssemblyTitle("VMS.TPS.Common.Model.Types")]
[assembly: AssemblyDescription("reirrad ESAPI stand-in (Eclipse 15.6 surface), not the Varian assembly")]
[assembly: AssemblyVersion("1.0.300.11")]
[assembly: AssemblyInformationalVersion("15.6 (reirrad ESAPI stand-in)")]
[assembly: InternalsVisibleTo("VMS.TPS.Common.Model.API")]
[assembly: InternalsVisibleTo("Reirrad.EsapiStubBuilder")]
