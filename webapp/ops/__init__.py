"""Running the service: health probes, the OpenAPI document, logging and the command line."""
