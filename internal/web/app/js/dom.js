// dom.js: the one way the app puts anything on the page. Every string
// becomes a text node (never HTML): what others wrote cannot become
// markup or script. Text from others goes in a <bdi> (other()), so its
// bidi controls cannot reorder what is around it.

// h makes an element: h('button', {type: 'button', onclick: f}, 'Send').
// attrs: "class", "for" and aria-*/data-* are attributes; on* functions
// are listeners; "value", "checked", "disabled", "hidden" are properties.
// children: strings (text), nodes, arrays of them; null and false skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'multiple') {
      el[k] = v;
    } else if (k === 'href' || k === 'src') {
      el.setAttribute(k, safeURL(v));
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// safeURL keeps the app's own addresses only: a path of this origin or a
// fragment. Anything else (javascript:, data:, another site) is refused.
export function safeURL(u) {
  const s = String(u);
  if ((s.startsWith('/') && !s.startsWith('//')) || s.startsWith('#') || s.startsWith('blob:' + location.origin)) return s;
  throw new Error('refused a link to ' + JSON.stringify(s));
}

// other is text someone else chose (a name, a message, a file's name):
// isolated, as text.
export function other(text, cls) {
  return h('bdi', cls ? {class: cls} : {}, String(text ?? ''));
}

// replace puts children in place of el's.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// seg escapes one segment of a path or query.
export const seg = encodeURIComponent;
