// Stand-ins for the node built-ins ("events", "url", "crypto") that modules of the bundle require at load
// time without using them in a browser (xmlbuilder2 and @oozcitak/url through dcmjs, seedrandom).
class EventEmitter {
  on() { return this; }
  once() { return this; }
  off() { return this; }
  removeListener() { return this; }
  emit() { return false; }
}
module.exports = { EventEmitter, domainToASCII: (domain) => domain, domainToUnicode: (domain) => domain };
