# reirrad - pelvic SABR re-irradiation. Import this file into RayStation's script database
# (Scripting > Script management) and run it from the Scripting menu on the open patient and plan.
# Choices come from the answers file named by the REIRRAD_ANSWERS environment variable.
from reirrad_tps.raystation.menu import main; main()  # noqa: E702, I001
