"""Patient and study identifiers read from one DICOM object, to be copied into the objects reirrad writes.

A written RT Dose must carry the patient's identifiers and the study of the objects it was derived
from, or a TPS files it under another patient or refuses the import. Only the Patient and General
Study module attributes are copied (PS3.3 C.7.1.1, C.7.2.1); nothing else of the source is.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from .attributes import text

__all__ = ["PatientStudy", "patient_study"]


@dataclass(frozen=True)
class PatientStudy:
    """Patient (PS3.3 C.7.1.1) and General Study (C.7.2.1) identifiers; ``""`` where the source had none.

    Attributes
    ----------
    patient_id, patient_name, patient_birth_date, patient_sex : str
        ``PatientID``, ``PatientName`` (DICOM ``^``-separated form), ``PatientBirthDate`` (YYYYMMDD),
        ``PatientSex``.
    study_instance_uid, study_id, study_date, study_time : str
        ``StudyInstanceUID`` and the study's ID, date (YYYYMMDD) and time (HHMMSS).
    accession_number, referring_physician_name : str
    """

    patient_id: str
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_instance_uid: str = ""
    study_id: str = ""
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    referring_physician_name: str = ""


def patient_study(ds: Dataset) -> PatientStudy:
    """The Patient and General Study identifiers of ``ds`` (``""`` for absent or empty attributes)."""
    return PatientStudy(
        patient_id=text(ds, "PatientID"),
        patient_name=text(ds, "PatientName"),
        patient_birth_date=text(ds, "PatientBirthDate"),
        patient_sex=text(ds, "PatientSex"),
        study_instance_uid=text(ds, "StudyInstanceUID"),
        study_id=text(ds, "StudyID"),
        study_date=text(ds, "StudyDate"),
        study_time=text(ds, "StudyTime"),
        accession_number=text(ds, "AccessionNumber"),
        referring_physician_name=text(ds, "ReferringPhysicianName"),
    )
