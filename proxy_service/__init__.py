"""The service that holds the work: bookings, proxy applications, handoff tickets."""
