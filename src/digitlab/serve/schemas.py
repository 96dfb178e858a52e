"""Request and response bodies of the API; they are also its OpenAPI documentation."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class ReadOptions(BaseModel):
    """Query parameters of the image routes."""

    model_config = ConfigDict(extra="ignore")

    multi: bool | None = Field(default=None, description="true: a number; false: one digit; unset: decided from "
                                                         "the ink's shape.")
    top_k: int = Field(default=3, ge=1, le=10, description="How many of the likeliest digits to list per digit.")
    min_confidence: float | None = Field(default=None, ge=0, le=1, description=(
        "The reject option: a reading is `accepted` only when its confidence (the estimated chance that it is "
        "right) is at least this; a digit whose own probability is under it reads as `?`. Unset: all accepted."))


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable reason, e.g. `not_an_image`, `too_large`, `bad_request`.")
    message: str = Field(description="What went wrong, for a person.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class TopK(BaseModel):
    digit: int = Field(ge=0)
    p: float = Field(ge=0, le=1)


class DigitOut(BaseModel):
    digit: int = Field(description="The most probable class.")
    probs: list[float] = Field(description="Probability of each class, 0 to 9.")
    top_k: list[TopK]
    box: list[int] | None = Field(description="left, top, right, bottom in the image's pixels (right/bottom "
                                              "exclusive); null for a 28x28 array.")
    accepted: bool = Field(description="False when this digit's top probability is under `min_confidence` (it "
                                       "then reads as `?`; `digit` keeps the best guess).")


class Timing(BaseModel):
    preprocess: float = Field(description="Decoding and finding the digits, ms.")
    model: float = Field(description="Waiting for and running the model, ms.")
    total: float = Field(description="From the body read to the answer built, ms.")


class ReadingOut(BaseModel):
    digits: str = Field(description="What was read, left to right; `?` marks a digit under `min_confidence`.")
    confidence: float = Field(description="Product of the per-digit top probabilities (calibrated where the model "
                                          "has a temperature): the estimated chance that `digits` is right.")
    accepted: bool = Field(description="`confidence` >= `min_confidence` (always true without one): false means "
                                       "send it to a person.")
    items: list[DigitOut]


class RecognizeResponse(ReadingOut):
    model: str = Field(description="Id of the model that answered.")
    timing_ms: Timing


class BatchItem(BaseModel):
    index: int
    filename: str | None = None
    result: ReadingOut | None = None
    error: ErrorDetail | None = Field(default=None, description="Why this image could not be read.")


class BatchResponse(BaseModel):
    results: list[BatchItem]
    model: str
    timing_ms: Timing


Row = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=28, max_length=28)]
Image28 = Annotated[list[Row], Field(min_length=28, max_length=28)]


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"images": [[[0] * 28] * 28]}})

    images: list[Image28] = Field(min_length=1, description="28x28 MNIST-style digits (light ink on black), "
                                                            "values 0-255, or 0-1 when no value exceeds 1.")
    top_k: int = Field(default=3, ge=1, le=10)


class ClassifyResponse(BaseModel):
    items: list[DigitOut]
    model: str
    timing_ms: Timing


class ModelInfo(BaseModel):
    id: str
    version: str | None = Field(default=None, description="First 12 hex digits of the weights' SHA-256.")
    architecture: str
    args: dict = Field(default_factory=dict, description="Arguments the architecture was built with.")
    runtime: str = Field(description="What runs it: onnxruntime (checked against torch at start), torch or numpy.")
    device: str = Field(default="cpu", description="Where the model runs: cpu, or a CUDA device such as cuda:0.")
    classes: list[str]
    parameters: int | None = None
    test_accuracy: float | None = Field(default=None, description="MNIST test accuracy recorded with the weights.")
    recipe: str | None = None
    digitlab_version: str | None = None
    calibration: dict | None = Field(default=None, description="The temperature its probabilities are divided by "
                                                               "and what it was fitted on; null: uncalibrated.")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: str = "ok"
    model: str
    version: str
