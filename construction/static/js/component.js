// component page
