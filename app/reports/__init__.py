"""Reports: read-only queries across the domains (a cadre's learning archive, units, courses, periods), their charts and exports."""
