virsh vol-dumpxml @LOOP_GPT@p2 --pool diskgpt
