"""nbgrader's CheckCellMetadata, with its JSON schema checked once per process, not per cell.

nbgrader validates each cell's nbgrader metadata with ``jsonschema.validate(metadata,
schema)``, which first validates the *schema itself* against the JSON-Schema meta-schema:
~90 % of CheckCellMetadata's time. Autograde runs the preprocessor twice per notebook
(sanitize and autograde passes): ~0.04 s of CPU per student, for checking the same constant
schema 120 times. Here the validator is built (and the schema checked) once per process;
every rule of nbgrader's is kept: its schema-version checks (re-stated below, ten lines of
``BaseMetadataValidator.validate_cell``) and all of ``MetadataValidatorV3.validate_cell``,
which runs unchanged (cooperative inheritance puts ``_CompiledSchema`` between it and the
base). ``gradebook_tests/test_cell_metadata.py`` checks that it accepts and refuses what
nbgrader's does.
"""

import traceback

import jsonschema
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import (BaseMetadataValidator, SchemaTooNewError,
                                            SchemaTooOldError)
from nbgrader.preprocessors import CheckCellMetadata

_VALIDATORS = {}   # per process: schema version -> compiled jsonschema validator


class _CompiledSchema(BaseMetadataValidator):
    """``BaseMetadataValidator.validate_cell`` with a validator compiled once."""

    def validate_cell(self, cell):
        if "nbgrader" not in cell.metadata:
            return
        schema = cell.metadata["nbgrader"].get("schema_version", 0)
        if schema < self.schema_version:
            raise SchemaTooOldError(
                f"Outdated schema version: {schema} (expected {self.schema_version})",
                schema, self.schema_version)
        if schema > self.schema_version:
            raise SchemaTooNewError(
                f"Schema version is too new: {schema} (expected {self.schema_version})",
                schema, self.schema_version)
        validator = _VALIDATORS.get(self.schema_version)
        if validator is None:
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            validator = _VALIDATORS[self.schema_version] = cls(self.schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(cell.metadata["nbgrader"]))
        if error is not None:
            raise error


class _Validator(MetadataValidator, _CompiledSchema):
    """nbgrader's current metadata validator; its ``super().validate_cell`` is _CompiledSchema's."""


class CheckCellMetadataOnce(CheckCellMetadata):
    """nbgrader's CheckCellMetadata (same checks, same log and error), schema compiled once."""

    def preprocess(self, nb, resources):
        try:
            _Validator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg)
        return nb, resources
