// photo page
