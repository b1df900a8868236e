"""Tests of the embedded PACS, the DIMSE client and the Orthanc helper."""
