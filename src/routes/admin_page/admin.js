/* Linkback's moderation page: keyboard moves and actions, "select all", and keeping one's place
 * across the reload each action makes. Served as /admin/assets/admin.js (the page's CSP allows
 * no inline script). The page works without it: every button is a plain form submission. */
(function () {
  'use strict';

  var form = document.getElementById('queue');
  if (!form) {
    return;
  }
  var items = Array.prototype.slice.call(form.querySelectorAll('li.mention'));
  var picks = Array.prototype.slice.call(form.querySelectorAll('input.pick'));
  /* Where the cursor was when an action was sent; read once by the page that comes back. */
  var PLACE_KEY = 'linkback-admin-place';
  var current = -1;
  var sending = false;

  function setCurrent(index, scroll) {
    if (items.length === 0) {
      return;
    }
    index = Math.max(0, Math.min(items.length - 1, index));
    if (current >= 0 && items[current]) {
      items[current].classList.remove('current');
      items[current].removeAttribute('aria-current');
    }
    current = index;
    items[current].classList.add('current');
    items[current].setAttribute('aria-current', 'true');
    if (scroll) {
      items[current].scrollIntoView({ block: 'nearest' });
    }
  }

  function remember() {
    try {
      window.sessionStorage.setItem(PLACE_KEY, String(current));
    } catch (e) { /* storage may be off; the place is a convenience */ }
  }

  function recall() {
    try {
      var saved = window.sessionStorage.getItem(PLACE_KEY);
      window.sessionStorage.removeItem(PLACE_KEY);
      var index = parseInt(saved, 10);
      return isNaN(index) ? 0 : index;
    } catch (e) {
      return 0;
    }
  }

  function act(name) {
    var item = items[current];
    var button = item && item.querySelector('button.act.' + name);
    if (!button || sending) {
      return;
    }
    sending = true;
    remember();
    button.click();
  }

  function togglePick() {
    var pick = items[current] && items[current].querySelector('input.pick');
    if (pick) {
      pick.checked = !pick.checked;
      pick.dispatchEvent(new Event('change', { bubbles: true }));
    }
  }

  /* Keys belong to the page unless the person is typing. */
  function typing(target) {
    if (!target) {
      return false;
    }
    if (target.isContentEditable || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') {
      return true;
    }
    return target.tagName === 'INPUT' &&
      !/^(checkbox|radio|button|submit|reset)$/i.test(target.type);
  }

  document.addEventListener('keydown', function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey ||
        typing(event.target)) {
      return;
    }
    var handled = true;
    switch (event.key) {
      case 'j': setCurrent(current + 1, true); break;
      case 'k': setCurrent(current - 1, true); break;
      case 'a': act('approve'); break;
      case 's': act('spam'); break;
      case 'r': act('reject'); break;
      case 'x': togglePick(); break;
      default: handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  });

  /* A click inside an item makes it the current one. */
  items.forEach(function (item, index) {
    item.addEventListener('click', function () {
      setCurrent(index, false);
    });
  });
  form.addEventListener('submit', function () {
    remember();
  });

  var all = document.getElementById('select-all');
  if (all) {
    all.parentNode.hidden = false;
    all.addEventListener('change', function () {
      picks.forEach(function (pick) { pick.checked = all.checked; });
    });
    form.addEventListener('change', function (event) {
      if (event.target === all) {
        return;
      }
      var checked = picks.filter(function (pick) { return pick.checked; }).length;
      all.checked = checked === picks.length && checked > 0;
      all.indeterminate = checked > 0 && checked < picks.length;
    });
  }

  setCurrent(recall(), true);
}());
