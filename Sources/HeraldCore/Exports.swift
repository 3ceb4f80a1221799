// JSON values are part of the domain's vocabulary (an event's data, a document's body, a hook's
// filter arguments): whoever speaks HeraldCore speaks HeraldJSON.
@_exported import HeraldJSON
