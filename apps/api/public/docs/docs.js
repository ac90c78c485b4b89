// @ts-check
/**
 * Starts Swagger UI on the API's own /openapi.json. Everything loads from this origin (no
 * CDN, no validator badge calling out), so the page works offline and under the strict CSP.
 */
/** @type {any} */ (window).ui = /** @type {any} */ (window).SwaggerUIBundle({
  url: 'openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  layout: 'BaseLayout',
  presets: [/** @type {any} */ (window).SwaggerUIBundle.presets.apis],
});
