/**
 * The reading page of a reader study, from a view model: server-rendered, one image at a time,
 * no external resource. Its one inline script (allowed by a per-response nonce) does the image
 * interaction (wheel: zoom; drag: pan; right- or shift-drag: window; double-click: reset) and
 * measures the reading time, from the image shown (its load event) to the decision submitted.
 * Every text and attribute value is escaped; the view holds no URI and no patient identifier.
 */
import type { StudyArm } from '@cxr/store';
import { escapeHtml } from '../worklist/page.js';

export interface AiView {
  readonly diagnosis: string | null;
  readonly scores: readonly { readonly label: string; readonly score: number; readonly positive: boolean }[];
}

export interface ReadingPageView {
  readonly readerName: string;
  /** 1-based place of this reading in the reader's sequence. */
  readonly position: number;
  readonly total: number;
  readonly caseId: string;
  readonly arm: StudyArm;
  readonly session: 1 | 2;
  readonly labels: readonly string[];
  readonly imageSrc: string;
  /** Only in the with_ai arm. */
  readonly ai?: AiView;
  /** The nonce of the inline script (content security policy). */
  readonly nonce: string;
  readonly notice?: string;
}

const STYLE = `
body{margin:0;font:15px/1.4 system-ui,sans-serif;background:#111;color:#eee;display:flex;height:100vh}
main{flex:1;display:flex;flex-direction:column;min-width:0}
#viewport{flex:1;overflow:hidden;position:relative;background:#000;cursor:grab;user-select:none}
#viewport img{position:absolute;left:0;top:0;transform-origin:0 0;max-width:none;image-rendering:auto}
header{padding:6px 12px;background:#222;display:flex;gap:16px;align-items:center}
aside{width:340px;padding:12px;background:#1c1c1c;overflow:auto}
fieldset{border:1px solid #444;margin:0 0 12px;padding:8px}
legend{font-weight:600}
.ai{border:1px solid #c90;padding:8px;margin-bottom:12px}
.ai li.positive{color:#fc6;font-weight:600}
.none{color:#9ab}
button{font-size:16px;padding:8px 16px}
.help{color:#aaa;font-size:13px}
.notice{background:#633;padding:6px}
`;

/** Client side: image interaction and the reading time. Kept small and dependency-free. */
const SCRIPT = `
(function(){
  var vp=document.getElementById('viewport'),img=document.getElementById('image'),
      form=document.getElementById('reading'),timeField=document.getElementById('readingTimeMs'),
      submit=document.getElementById('submit');
  var shownAt=null,s=1,x=0,y=0,c=1,b=1,drag=null;
  function apply(){img.style.transform='translate('+x+'px,'+y+'px) scale('+s+')';
    img.style.filter='contrast('+c.toFixed(3)+') brightness('+b.toFixed(3)+')';}
  function fit(){var w=vp.clientWidth,h=vp.clientHeight,iw=img.naturalWidth||1,ih=img.naturalHeight||1;
    s=Math.min(w/iw,h/ih);x=(w-iw*s)/2;y=(h-ih*s)/2;c=1;b=1;apply();}
  function shown(){if(shownAt===null){shownAt=performance.now();fit();submit.disabled=false;
    document.body.setAttribute('data-shown','1');}}
  if(img.complete&&img.naturalWidth>0)shown();else img.addEventListener('load',shown);
  vp.addEventListener('wheel',function(e){e.preventDefault();var r=vp.getBoundingClientRect(),
    px=e.clientX-r.left,py=e.clientY-r.top,k=e.deltaY<0?1.15:1/1.15;
    x=px-(px-x)*k;y=py-(py-y)*k;s*=k;apply();},{passive:false});
  vp.addEventListener('contextmenu',function(e){e.preventDefault();});
  vp.addEventListener('mousedown',function(e){drag={mode:(e.button===2||e.shiftKey)?'window':'pan',
    x:e.clientX,y:e.clientY,x0:x,y0:y,c0:c,b0:b};vp.style.cursor='grabbing';});
  window.addEventListener('mousemove',function(e){if(!drag)return;var dx=e.clientX-drag.x,dy=e.clientY-drag.y;
    if(drag.mode==='pan'){x=drag.x0+dx;y=drag.y0+dy;}
    else{c=Math.max(0.2,Math.min(8,drag.c0*Math.exp(dx/200)));b=Math.max(0.2,Math.min(5,drag.b0*Math.exp(-dy/200)));}
    apply();});
  window.addEventListener('mouseup',function(){drag=null;vp.style.cursor='grab';});
  vp.addEventListener('dblclick',fit);
  window.addEventListener('resize',fit);
  form.addEventListener('submit',function(e){if(shownAt===null){e.preventDefault();return;}
    timeField.value=String(Math.round(performance.now()-shownAt));submit.disabled=true;});
})();
`;

function labelFieldset(label: string, index: number): string {
  const name = escapeHtml(label);
  const confidence = [1, 2, 3, 4, 5]
    .map((n) => `<label><input type="radio" name="confidence_${index}" value="${n}" required> ${n}</label>`)
    .join(' ');
  return (
    `<fieldset data-label="${name}"><legend>${name}</legend>` +
    `<div role="radiogroup" aria-label="${name}: decision">` +
    `<label><input type="radio" name="decision_${index}" value="present" required> present</label> ` +
    `<label><input type="radio" name="decision_${index}" value="absent" required> absent</label></div>` +
    `<div role="radiogroup" aria-label="${name}: confidence">Confidence (1 unsure … 5 certain): ${confidence}</div>` +
    `</fieldset>`
  );
}

function aiPanel(ai: AiView): string {
  const items = ai.scores
    .map(
      (s) =>
        `<li${s.positive ? ' class="positive"' : ''}>${escapeHtml(s.label)}: <data value="${s.score}">${s.score.toFixed(3)}</data>${s.positive ? ' (positive)' : ''}</li>`,
    )
    .join('');
  return (
    `<section class="ai" id="ai" aria-label="AI result"><strong>AI decision: ${escapeHtml(ai.diagnosis ?? 'none')}</strong>` +
    `<ul>${items}</ul></section>`
  );
}

/** The reading page of one (case, arm). */
export function renderReadingPage(view: ReadingPageView): string {
  const armText = view.arm === 'with_ai' ? 'with AI' : 'without AI';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reader study: case ${view.position} of ${view.total}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body data-arm="${view.arm}" data-case="${escapeHtml(view.caseId)}">
<main><header><span>${escapeHtml(view.readerName)}</span><span id="progress">Reading ${view.position} of ${view.total}</span>
<span>Session ${view.session}</span><span id="arm">${armText}</span></header>
<div id="viewport"><img id="image" src="${escapeHtml(view.imageSrc)}" alt="Case image" draggable="false"></div></main>
<aside>${view.notice === undefined ? '' : `<p class="notice">${escapeHtml(view.notice)}</p>`}
${view.ai === undefined ? '<p class="none" id="no-ai">Read this image without the AI result.</p>' : aiPanel(view.ai)}
<form id="reading" method="post" action="/study/read">
<input type="hidden" name="caseId" value="${escapeHtml(view.caseId)}">
<input type="hidden" name="arm" value="${view.arm}">
<input type="hidden" name="readingTimeMs" id="readingTimeMs" value="">
${view.labels.map(labelFieldset).join('\n')}
<button type="submit" id="submit" disabled>Record and next</button></form>
<p class="help">Wheel: zoom. Drag: pan. Right-drag or shift-drag: window (left/right contrast, up/down brightness). Double-click: reset.</p>
</aside>
<script nonce="${escapeHtml(view.nonce)}">${SCRIPT}</script>
</body></html>`;
}

/** A page with a message only: finished, a link that is not valid, an error. */
export function renderStudyMessage(
  title: string,
  message: string,
  link?: { href: string; text: string },
): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}body{display:block;padding:24px}</style></head>
<body><h1>${escapeHtml(title)}</h1><p id="message">${escapeHtml(message)}</p>${
    link === undefined ? '' : `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>`
  }</body></html>`;
}
