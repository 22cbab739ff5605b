/// The release version of mcdropout, shared by every executable's `--version`, `GET /v2` and the OpenAPI document.
public let mcdropoutVersion = "0.1.0"
