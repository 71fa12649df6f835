#include "server/web_ui.h"

namespace dsrt::server {

// Kept dependency-free (no framework, no external fonts or scripts) so the page works on a
// machine with no internet, like the rest of dsrt.
const std::string& web_ui_html() {
  static const std::string kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dsrt chat</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:sans-serif;max-width:52rem;margin:0 auto;padding:1rem;background:#fafafa;color:#222}
h1{font-size:1.2rem;margin:.2rem 0 1rem}
#log{display:flex;flex-direction:column;gap:.6rem;min-height:8rem}
.msg{padding:.6rem .8rem;border-radius:.5rem;white-space:pre-wrap;word-break:break-word}
.user{background:#dbeafe;align-self:flex-end;max-width:80%}
.assistant{background:#fff;border:1px solid #ddd}
.reasoning{color:#666;font-style:italic;border-left:3px solid #bbb;padding-left:.5rem;margin-bottom:.4rem;white-space:pre-wrap}
.reasoning:empty{display:none}
.meta{color:#888;font-size:.8rem;margin-top:.3rem}
form{display:flex;gap:.5rem;margin-top:1rem}
textarea{flex:1;height:3.5rem;font:inherit;padding:.4rem}
button{font:inherit;padding:.4rem 1rem}
#opts{display:flex;gap:1rem;font-size:.85rem;margin-top:.5rem;color:#555}
#opts input{width:5rem}
</style></head><body>
<h1>dsrt chat <span id="model" class="meta"></span></h1>
<div id="log"></div>
<form id="f"><textarea id="q" placeholder="Ask something (Enter sends, Shift+Enter is a new line)"></textarea>
<button id="send" type="submit">Send</button><button id="stop" type="button" disabled>Stop</button></form>
<div id="opts"><label>max tokens <input id="max" type="number" value="128" min="1"></label>
<label>temperature <input id="temp" type="number" value="0.7" step="0.1" min="0" max="2"></label>
<label>API key <input id="key" type="password" style="width:10rem"></label></div>
<script>
const log=document.getElementById('log'),q=document.getElementById('q');
const msgs=[];let ctrl=null;
fetch('/v1/models',{headers:hdr()}).then(r=>r.json()).then(j=>{document.getElementById('model').textContent=j.data[0].id}).catch(()=>{});
function hdr(){const k=document.getElementById('key').value;const h={'Content-Type':'application/json'};if(k)h['Authorization']='Bearer '+k;return h}
function bubble(role,text){const d=document.createElement('div');d.className='msg '+role;
 const r=document.createElement('div');r.className='reasoning';const c=document.createElement('div');c.className='content';c.textContent=text||'';
 const m=document.createElement('div');m.className='meta';d.append(r,c,m);log.append(d);d.scrollIntoView();return {r,c,m}}
q.addEventListener('keydown',e=>{if(e.key==='Enter'&&!e.shiftKey){e.preventDefault();document.getElementById('f').requestSubmit()}});
document.getElementById('stop').onclick=()=>{if(ctrl)ctrl.abort()};
document.getElementById('f').onsubmit=async e=>{e.preventDefault();const text=q.value.trim();if(!text||ctrl)return;q.value='';
 bubble('user',text);msgs.push({role:'user',content:text});const b=bubble('assistant','');
 ctrl=new AbortController();document.getElementById('stop').disabled=false;document.getElementById('send').disabled=true;
 let content='',reasoning='',t0=performance.now(),n=0;
 try{const res=await fetch('/v1/chat/completions',{method:'POST',headers:hdr(),signal:ctrl.signal,
   body:JSON.stringify({messages:msgs,stream:true,max_tokens:+document.getElementById('max').value,temperature:+document.getElementById('temp').value})});
  if(!res.ok){const j=await res.json().catch(()=>({}));throw new Error((j.error&&j.error.message)||res.statusText)}
  const rd=res.body.getReader(),dec=new TextDecoder();let buf='';
  for(;;){const {value,done}=await rd.read();if(done)break;buf+=dec.decode(value,{stream:true});let i;
   while((i=buf.indexOf('\n\n'))>=0){const ev=buf.slice(0,i);buf=buf.slice(i+2);if(!ev.startsWith('data: '))continue;
    const data=ev.slice(6);if(data==='[DONE]')continue;const j=JSON.parse(data);if(j.error)throw new Error(j.error.message);
    const ch=j.choices&&j.choices[0];if(j.usage)b.m.textContent=j.usage.completion_tokens+' tokens, '+(j.usage.completion_tokens/((performance.now()-t0)/1000)).toFixed(1)+' tok/s';
    if(!ch||!ch.delta)continue;if(ch.delta.reasoning_content){reasoning+=ch.delta.reasoning_content;b.r.textContent=reasoning}
    if(ch.delta.content){content+=ch.delta.content;b.c.textContent=content}}}
 }catch(err){if(err.name!=='AbortError')b.m.textContent='error: '+err.message;else b.m.textContent+=' (stopped)'}
 msgs.push({role:'assistant',content});ctrl=null;document.getElementById('stop').disabled=true;document.getElementById('send').disabled=false;
 document.body.dataset.done=(+(document.body.dataset.done||0)+1)};
// A link such as /?q=Hello&max=16 asks its question on load (shareable prompts; headless tests).
{const u=new URLSearchParams(location.search);if(u.get('max'))document.getElementById('max').value=u.get('max');
 if(u.get('temp'))document.getElementById('temp').value=u.get('temp');
 if(u.get('q')){q.value=u.get('q');document.getElementById('f').requestSubmit()}}
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace dsrt::server
