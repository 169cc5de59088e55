"""From check results to notifications: the breach policy state machine, alert events and webhook templates."""
