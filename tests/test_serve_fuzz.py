"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): never a 5xx, and every
answer matches the schema it documents -- errors included."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from digitlab.inference.classifier import load_classifier
from digitlab.serve import ServiceSettings, create_app

# Small limits, so that the fuzzer reaches them.
app = create_app(ServiceSettings(max_bytes=100_000, max_pixels=1_000_000, max_batch_files=3, max_classify_images=4,
                                 api_key=None), model=load_classifier("default"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
for media_type in ("image/bmp", "image/tiff"):  # raw bodies like the other image types
    schemathesis.serializer.alias(media_type, "application/octet-stream")


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_on_generated_requests(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])
