// What the page's requests came back with, as the page itself sees them: a status is readable only
// when CORS let the answer through (for a request with an Authorization header, after its preflight);
// otherwise fetch rejects. The library calls window.fetch when it sends, so it goes through here.
(function () {
  var original = window.fetch;
  window.apiCalls = [];
  window.fetch = function (url, init) {
    var call = {
      method: (init && init.method) || "GET",
      url: String(url),
      authorized: !!(init && init.headers && (init.headers.Authorization || init.headers.authorization)),
    };
    window.apiCalls.push(call);
    return original.apply(this, arguments).then(
      function (response) { call.status = response.status; return response; },
      function (error) { call.error = String(error); throw error; }
    );
  };
})();
