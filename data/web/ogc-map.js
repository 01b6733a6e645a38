// The map of an OGC API HTML page: draws the features of the page's JSON data block (#features).
(function () {
  var features = JSON.parse(document.getElementById('features').textContent);
  var map = L.map('map');
  var layer = L.geoJSON(features, {style: function (f) {
    return {color: (f.properties && f.properties.colour) || '#c62828', weight: 1};
  }}).addTo(map);
  try { map.fitBounds(layer.getBounds()); } catch (e) { map.setView([11.9, 108.4], 9); }
})();
