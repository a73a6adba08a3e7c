// A small SAMP Web Profile client, written for skyhop's browser tests.
//
// It speaks XML-RPC over HTTP to the hub's Web Profile port with fetch(), as SAMP 1.3
// defines it: register, declare metadata and subscriptions, allow reverse callbacks,
// long-poll pullCallbacks, reply to calls, notify, and fetch through the hub's URL
// translator. Every step is written into the page, which the test reads.
"use strict";

function xmlEscape(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// JavaScript value -> XML-RPC <value>. SAMP values are strings, lists and maps;
// numbers and booleans are encoded too so typed values from other clients round-trip.
function encodeValue(v) {
  if (typeof v === "string") return "<value><string>" + xmlEscape(v) + "</string></value>";
  if (typeof v === "boolean") return "<value><boolean>" + (v ? 1 : 0) + "</boolean></value>";
  if (typeof v === "number") {
    return Number.isInteger(v) ? "<value><int>" + v + "</int></value>"
                               : "<value><double>" + v + "</double></value>";
  }
  if (Array.isArray(v)) return "<value><array><data>" + v.map(encodeValue).join("") +
                               "</data></array></value>";
  if (v !== null && typeof v === "object") {
    return "<value><struct>" + Object.keys(v).map(function (k) {
      return "<member><name>" + xmlEscape(k) + "</name>" + encodeValue(v[k]) + "</member>";
    }).join("") + "</struct></value>";
  }
  return "<value><string></string></value>";
}

function elementChildren(node) {
  return Array.prototype.filter.call(node.childNodes, function (n) { return n.nodeType === 1; });
}

// XML-RPC <value> element -> JavaScript value.
function decodeValue(valueEl) {
  var typed = elementChildren(valueEl)[0];
  if (!typed) return valueEl.textContent;  // an untyped <value> is a string
  switch (typed.tagName) {
    case "string": return typed.textContent;
    case "int": case "i4": case "i8": return parseInt(typed.textContent, 10);
    case "double": return parseFloat(typed.textContent);
    case "boolean": return typed.textContent.trim() === "1";
    case "nil": return null;
    case "array":
      return elementChildren(elementChildren(typed)[0] || typed).map(decodeValue);
    case "struct": {
      var out = {};
      elementChildren(typed).forEach(function (member) {
        var parts = elementChildren(member);
        var name = parts.filter(function (p) { return p.tagName === "name"; })[0];
        var value = parts.filter(function (p) { return p.tagName === "value"; })[0];
        out[name.textContent] = decodeValue(value);
      });
      return out;
    }
    default: return typed.textContent;
  }
}

function SampWebClient(hubUrl) {
  this.hubUrl = hubUrl;
  this.key = null;
  this.reg = null;
}

// One XML-RPC call; a fault becomes an Error carrying the hub's faultString.
SampWebClient.prototype.call = async function (method, params) {
  var body = "<?xml version=\"1.0\"?><methodCall><methodName>" + method +
             "</methodName><params>" + params.map(function (p) {
               return "<param>" + encodeValue(p) + "</param>";
             }).join("") + "</params></methodCall>";
  // text/xml is not a CORS-safelisted type: the browser sends a preflight first.
  var resp = await fetch(this.hubUrl, {method: "POST", headers: {"Content-Type": "text/xml"},
                                       body: body});
  var doc = new DOMParser().parseFromString(await resp.text(), "text/xml");
  var fault = doc.getElementsByTagName("fault")[0];
  if (fault) {
    var info = decodeValue(elementChildren(fault)[0]);
    throw new Error("SAMP fault " + info.faultCode + ": " + info.faultString);
  }
  var value = doc.querySelector("methodResponse > params > param > value");
  return value ? decodeValue(value) : null;
};

SampWebClient.prototype.hub = function (name, args) {
  return this.call("samp.webhub." + name, [this.key].concat(args || []));
};

SampWebClient.prototype.register = async function (identity) {
  this.reg = await this.call("samp.webhub.register", [identity]);
  this.key = this.reg["samp.private-key"];
  return this.reg;
};

SampWebClient.prototype.translate = function (url) {
  return this.reg["samp.url-translator"] + encodeURIComponent(url);
};
