"""One-line messages for a tracking server's refusals (HTTP 401/403)."""

from __future__ import annotations

from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, UNAUTHENTICATED

from common.errors import UserInputError, access_refused

SERVER = "http://127.0.0.1:5000"
UNAUTHORIZED = MlflowException(
    "API request to endpoint /api/2.0/mlflow/runs/create failed with error code 401 != 200. "
    "Response body: 'You are not authenticated.\nPlease see ...'",
    error_code=UNAUTHENTICATED,
)


def test_a_401_without_credentials_names_the_server_endpoint_and_where_credentials_go():
    assert access_refused(UNAUTHORIZED, server=SERVER, who=None) == (
        "http://127.0.0.1:5000: 401 Unauthorized (/api/2.0/mlflow/runs/create): no credentials; "
        "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), "
        "or put them in ~/.mlflow/credentials"
    )


def test_a_403_names_who_was_refused_even_when_wrapped_in_another_error():
    denied = RestException({"error_code": "PERMISSION_DENIED", "message": "Permission denied"})
    try:
        try:
            raise denied
        except RestException as exc:
            raise UserInputError("run abc is not in the store") from exc
    except UserInputError as wrapped:
        line = access_refused(wrapped, server=SERVER, who="user 'alice'")
    assert line == (
        "http://127.0.0.1:5000: 403 Forbidden: user 'alice' lacks permission for this; ask the "
        "server's admin to grant it (or use an experiment or model you own)"
    )


def test_a_password_in_the_uri_is_never_repeated():
    line = access_refused(UNAUTHORIZED, server="https://bob:s3cret@host:443", who="user 'bob'")
    assert line.startswith("https://host:443: 401 Unauthorized (/api/2.0/mlflow/runs/create): ")
    assert "s3cret" not in line


def test_other_errors_are_not_access_refusals():
    missing = MlflowException("no such run", error_code=RESOURCE_DOES_NOT_EXIST)
    assert access_refused(missing, server=SERVER, who=None) is None
    assert access_refused(ValueError("401"), server=SERVER, who=None) is None


def test_a_user_input_error_is_one_line_whatever_it_quotes():
    error = UserInputError("column 'a\nb' holds \t text\x00")
    assert str(error) == "column 'a\\nb' holds \\t text\\x00"
    assert str(UserInputError("plain")) == "plain"
