// dashboard page
