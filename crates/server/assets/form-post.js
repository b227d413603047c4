// Submits the OpenID Connect form_post answer to the application at once.
document.getElementById("form-post").submit();
