/*
 * Open the Engage Digital (Dimelo) chat window even when no agent is logged in.
 *
 * Why: Engage Digital's chat shows its window only while agents are logged in (task mode).
 * Outside business hours nobody is, so the window never appears and customers cannot reach
 * the bot either. Executing a chat trigger by hand opens it anyway; the bot then answers and,
 * with BUSINESS_HOURS=platform, tells the customer when the agents are back.
 *
 * How: create a chat trigger in Engage Digital (Admin > Chat > Triggers) whose action opens
 * the chat, copy its id from the trigger's edit page URL, set TRIGGER_ID below, and add this
 * script to the brand's pages after Engage Digital's chat tag (the one that defines _chatq).
 *
 * Taken from the Engage Digital client walkthrough (appendix "Manually execute a Dimelo Chat
 * trigger"), tidied. It relies on the chat library's internals (Dimelo.Chat.Manager), as the
 * original does: check it after each chat library update.
 */
var _chatq = _chatq || [];

(function () {
  "use strict";

  // The id of your chat trigger: the last part of the trigger's edit page URL.
  var TRIGGER_ID = "xxxxxxxxxx";

  // The chat window is on the page already (an agent is online, or it was opened).
  function chatIsDisplayed() {
    return document.getElementsByClassName("dimelo-chat-window").length > 0;
  }

  // Runs the trigger as if its conditions were met.
  function openChatWithTrigger(triggerId) {
    var manager = window.Dimelo && Dimelo.Chat && Dimelo.Chat.Manager && Dimelo.Chat.Manager.ChatQLoader
      ? Dimelo.Chat.Manager.ChatQLoader.manager
      : null;
    if (!manager || chatIsDisplayed()) {
      return;
    }
    var trigger = null;
    for (var i = 0; i < manager.triggers.length; i++) {
      if (manager.triggers[i].id === triggerId) {
        trigger = manager.triggers[i];
        break;
      }
    }
    if (trigger) {
      manager.activateTrigger(trigger);
    } else if (window.console) {
      console.warn("Engage Digital chat: no active trigger with id " + triggerId);
    }
  }

  // Once the chat library has started (it loads asynchronously).
  _chatq.push(["_onEvent", "started", function () {
    openChatWithTrigger(TRIGGER_ID);
  }]);
})();
