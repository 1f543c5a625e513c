"""`vgen init`: a commented starter spec that validates as written."""

STARTER = """\
# yaml-language-server: $schema=vgen.schema.json
# A vgen spec (version 1). `vgen schema > vgen.schema.json` writes the schema the line above
# points at, so editors with the YAML language server complete and check this file.
version: 1
output:
  path: out/video.mp4        # relative paths resolve against this file's folder
  width: 1920
  height: 1080
  fps: 30
  encoder: auto              # auto: NVENC when a test encode works, else libx264
  quality: 21                # -cq for NVENC, -crf for x264/x265
  preset: p4                 # NVENC p1..p7, or an x264 preset name
segments:
  seconds: 300               # checkpoint segments of about five minutes
defaults:
  duration: 5                # seconds per slide
  transition: {type: fade, duration: 0.5}   # none, or any xfade transition name (vgen draws them)
  ken_burns: auto            # auto | none | zoom-in | zoom-out | pan-left | pan-right | pan-up | pan-down
  fit: cover                 # cover: fill and crop; contain: whole picture over a blurred copy
  narration_pad: 0.5         # silence after a slide's own narration (slides with narration: below)
# chapters_intro: Intro      # the 0:00 chapter added when the first slide names none
slides:
  - image: images/001.jpg
    duration: 8
    ken_burns: {from: {zoom: 1.0, x: 0.5, y: 0.5}, to: {zoom: 1.2, x: 0.6, y: 0.4}, easing: ease-in-out}
  - image: images/002.jpg
    fit: contain
    transition: {type: slideleft, duration: 1.0}   # the transition INTO this slide
  - image: images/003.jpg    # the last slide lasts until the narration ends
  # Narrated scenes instead of one narration: each slide gets its own clip, which sets its length
  # (clip + narration_pad), a chapter, and the text its captions are made from (subtitles.from: text):
  # - image: images/004.jpg
  #   narration: audio/p004.mp3
  #   words: audio/p004.words.json   # optional word timings: [{word, start, end}] or Whisper verbose_json
  #   chapter: "Why the Romans built roads"
  #   text: "Two thousand years ago, ..."
audio:
  narration: audio/narration.mp3
  # music: {path: audio/music.mp3, volume: 0.15, loop: true, duck: true, fade_in: 2, fade_out: 3}
  loudness: -14              # LUFS; null leaves the mix untouched
# subtitles:
#   path: captions.srt       # or from: text (captions from the slides' text and narration)
#   sidecar: [srt, vtt]      # also write out/video.srt and out/video.vtt (YouTube's caption upload)
#   burn: true               # false: the sidecar files only
#   style: {font: DejaVu Sans, size: 48, color: "#FFFFFF", outline_color: "#000000", outline: 3, margin_v: 60}
#   highlight: "#FFD54A"     # with word timings: the word being spoken in this colour
# overlays:                  # a channel logo over every frame
#   - {image: brand/logo.png, position: top-right, width: 0.12, margin: 0.03, opacity: 0.8}
# titles:                    # plain text; style: title | lower-third | thumbnail | one of styles:
#   - {text: "Part one: the roads", at: {slide: 2}, duration: 4, style: lower-third, animation: fade}
# chapter_titles: true       # a title for each chapter at its start
# styles:
#   lower-third: {font: DejaVu Sans, size: 44, color: "#FFFFFF", box: "#000000A0"}   # CSS colours: #RRGGBBAA
# fonts_dir: fonts/          # font files for titles and captions
"""
