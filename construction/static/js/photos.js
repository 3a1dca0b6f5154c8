// photos page
