"""The web console: server-rendered pages for staff, community workers and supervisors."""
