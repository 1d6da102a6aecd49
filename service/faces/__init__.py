"""Finding faces and cutting the crops the emotion model classifies."""

from service.faces.crops import crop_faces
from service.faces.detector import DETECTOR_NAMES, build_detector, detectors_dir, resolve_detector_name
from service.faces.face import LANDMARK_NAMES, DetectorSettings, Face, FaceDetector

__all__ = [
    "DETECTOR_NAMES",
    "LANDMARK_NAMES",
    "DetectorSettings",
    "Face",
    "FaceDetector",
    "build_detector",
    "crop_faces",
    "detectors_dir",
    "resolve_detector_name",
]
