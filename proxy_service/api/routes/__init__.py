"""The JSON API's routers, one per area; every route needs the service token."""
