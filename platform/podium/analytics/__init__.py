"""Visitor analytics: page visits per Space per day and estimated unique visitors, counted
by the proxy's data planes and read by the API and dashboard (podium.analytics.visits)."""
